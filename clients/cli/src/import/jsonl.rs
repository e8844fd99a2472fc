//! The generic format: JSON Lines, one `frontierwatch.v1.ImportItem` per
//! line in the proto3 JSON mapping, e.g.
//! `{"organization": {"name": "organizations/xai", "displayName": "xAI"}}`.

use std::path::Path;

use anyhow::Context as _;
use frontierwatch_client::proto::ImportItem;

use super::Plan;
use crate::dynamic::{from_json, message};

pub fn plan(file: &Path) -> anyhow::Result<Plan> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let label = file.file_name().map_or("input.jsonl".to_owned(), |f| {
        f.to_string_lossy().into_owned()
    });
    let desc = message("frontierwatch.v1.ImportItem")?;
    let mut plan = Plan::default();
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<serde_json::Value>(raw)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|value| from_json(desc.clone(), value).map_err(|e| format!("{e:#}")))
            .and_then(|dynamic| {
                dynamic
                    .transcode_to::<ImportItem>()
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok(ImportItem {
                resource: Some(resource),
                ..
            }) => plan.push(&label, line, resource),
            Ok(_) => plan.reject(&label, line, "unknown", "", "the line holds no resource"),
            Err(reason) => plan.reject(&label, line, "unknown", "", reason),
        }
    }
    Ok(plan)
}
