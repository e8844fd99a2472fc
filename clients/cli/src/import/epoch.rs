//! Epoch AI, "Notable AI Models" (epoch.ai, CC BY 4.0): organizations, model
//! lines and releases with dates, parameter and compute estimates with their
//! confidence, and training hardware and datasets as disclosures.
//!
//! Rules, so that counts can be derived from the file:
//! - each row is a release, id from the model's name, developed by the
//!   organizations the row names (comma-separated, the lead first); its
//!   model line is derived from its name by the rule of `import::lines`;
//! - organizations resolve through stored aliases ("DeepMind" is Google
//!   DeepMind); a row that names no organization is reported (no line
//!   can be justified for it);
//! - a non-empty training hardware and a non-empty training dataset each
//!   become a disclosure about the release.

use std::collections::BTreeMap;
use std::path::Path;

use frontierwatch_client::names::slug;
use frontierwatch_client::proto::{
    AccessKind, Confidence, Disclosure, DisclosureCategory, DisclosureStatus, Estimate,
    Organization, Release, Source, SourceKind, VariantKind, import_item::Resource,
};

use super::lines::{self, Found};
use super::rows::{base_first, day, get, read_csv};
use super::{Plan, Resolver, dataset_source, fnv, provenance};

fn confidence(text: &str) -> i32 {
    let confidence = match text {
        "Confident" => Confidence::Confident,
        "Likely" => Confidence::Likely,
        "Speculative" => Confidence::Speculative,
        _ => Confidence::Unspecified,
    };
    confidence as i32
}

fn estimate(value: &str, confidence_text: &str, notes: &str) -> Option<Estimate> {
    let value = value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)?;
    Some(Estimate {
        value,
        confidence: confidence(confidence_text),
        method: notes.chars().take(1000).collect(),
        ..Default::default()
    })
}

fn access(text: &str) -> Vec<i32> {
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    if lower.contains("api") {
        out.push(AccessKind::Api as i32);
    }
    if lower.contains("open weights") {
        out.push(AccessKind::OpenWeights as i32);
    }
    if lower.contains("hosted access") {
        out.push(AccessKind::ConsumerApp as i32);
    }
    if lower.contains("unreleased") {
        out.push(AccessKind::InternalOnly as i32);
    }
    out
}

pub fn plan(file: &Path, resolver: &mut Resolver) -> anyhow::Result<Plan> {
    let mut plan = Plan {
        source: Some(dataset_source(
            "https://epoch.ai/data/notable-ai-models".to_owned(),
            "Epoch AI",
        )),
        ..Plan::default()
    };
    let label = file
        .file_name()
        .map_or("epoch.csv".to_owned(), |f| f.to_string_lossy().into_owned());
    let label = label.as_str();
    let rows = read_csv(file)?;
    let epoch = || {
        dataset_source(
            "https://epoch.ai/data/notable-ai-models".to_owned(),
            "Epoch AI",
        )
    };

    // First pass: organizations and releases; then the model lines, derived
    // from every row together; then the releases' names.
    struct Planned {
        line: u64,
        name: String,
        release: Release,
        base: String,
        hardware: String,
        dataset: String,
    }
    let mut planned: Vec<Planned> = Vec::new();
    let mut found: Vec<Found> = Vec::new();
    for (line, row) in &rows {
        let model = get(row, "Model")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let Some(release_id) = slug(&model) else {
            plan.reject(
                label,
                *line,
                "releases",
                &model,
                "no usable id in the model name",
            );
            continue;
        };
        let mut developers = Vec::new();
        let mut refused = None;
        for spelling in get(row, "Organization")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match resolver.organization(
                &mut plan,
                label,
                *line,
                spelling,
                None,
                Organization::default(),
            ) {
                Ok(org) if !developers.contains(&org) => developers.push(org),
                Ok(_) => {}
                Err(reason) => refused = Some(reason),
            }
        }
        if let Some(reason) = refused {
            plan.reject(label, *line, "releases", &model, reason);
            continue;
        }
        if developers.is_empty() {
            plan.reject(
                label,
                *line,
                "releases",
                &model,
                "no organization develops it, so no model line can hold it",
            );
            continue;
        }
        found.push(Found {
            release_id,
            display: model.clone(),
            developers,
            row: *line,
        });
        let mut sources: Vec<Source> = get(row, "Link")
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|u| u.starts_with("http"))
            .take(3)
            .map(|uri| Source {
                uri: uri.to_owned(),
                kind: if uri.contains("arxiv.org") {
                    SourceKind::Paper
                } else {
                    SourceKind::VendorAnnouncement
                } as i32,
                ..Default::default()
            })
            .collect();
        sources.push(epoch());
        let release = Release {
            display_name: model.clone(),
            release_date: day(get(row, "Publication date")),
            parameter_count: estimate(
                get(row, "Parameters"),
                get(row, "Confidence"),
                get(row, "Parameters notes"),
            ),
            training_compute_flop: estimate(
                get(row, "Training compute (FLOP)"),
                get(row, "Confidence"),
                get(row, "Training compute notes"),
            ),
            access: access(get(row, "Model accessibility")),
            provenance: provenance(sources),
            ..Default::default()
        };
        let quantity = get(row, "Hardware quantity");
        let hardware = match (get(row, "Training hardware"), quantity) {
            ("", _) => String::new(),
            (hw, "") => hw.to_owned(),
            (hw, q) => format!("{hw} (quantity: {q})"),
        };
        planned.push(Planned {
            line: *line,
            name: String::new(),
            release,
            base: get(row, "Base model").trim().to_owned(),
            hardware,
            dataset: get(row, "Training dataset").to_owned(),
        });
    }

    let derived = lines::derive(&found, &resolver.lines);
    for (line, model) in derived.models {
        plan.derived.insert(model.name.clone());
        plan.push(label, line, Resource::Model(model));
    }
    // Names, then bases by the source's model names.
    let mut by_model_name: BTreeMap<String, String> = BTreeMap::new();
    let mut kept: BTreeMap<String, Planned> = BTreeMap::new();
    for ((mut p, f), line_name) in planned.into_iter().zip(&found).zip(&derived.line_of) {
        p.name = format!("{line_name}/releases/{}", f.release_id);
        if kept.contains_key(&p.name) {
            plan.reject(
                label,
                p.line,
                "releases",
                &f.display,
                format!("another model has the same id ({})", f.release_id),
            );
            continue;
        }
        p.release.name = p.name.clone();
        plan.stated.insert(p.name.clone(), f.developers.clone());
        by_model_name.insert(f.display.clone(), p.name.clone());
        kept.insert(p.name.clone(), p);
    }
    let mut bases: BTreeMap<String, Option<String>> = BTreeMap::new();
    for p in kept.values() {
        let base = by_model_name
            .get(&p.base)
            .filter(|b| **b != p.name)
            .cloned();
        bases.insert(p.name.clone(), base);
    }
    let mut disclosures = Vec::new();
    for name in base_first(&bases) {
        let Some(mut p) = kept.remove(&name) else {
            continue;
        };
        if let Some(Some(base)) = bases.get(&name) {
            p.release.base_release = base.clone();
            p.release.variant_kind = VariantKind::FineTune as i32;
        }
        let published = p.release.release_date.as_ref().and_then(|d| d.date);
        for (kind, text, category) in [
            ("hw", &p.hardware, DisclosureCategory::ComputeHardware),
            (
                "data",
                &p.dataset,
                DisclosureCategory::TrainingDataProvenance,
            ),
        ] {
            if text.is_empty() {
                continue;
            }
            let status = if text.to_lowercase().starts_with("unspecified") {
                DisclosureStatus::NotDisclosed
            } else {
                DisclosureStatus::Disclosed
            };
            disclosures.push((
                p.line,
                Disclosure {
                    name: format!("disclosures/epoch-{kind}-{}", fnv(&p.name)),
                    subject: p.name.clone(),
                    category: category as i32,
                    status: status as i32,
                    statement: text.clone(),
                    publish_date: published,
                    provenance: provenance(vec![epoch()]),
                    ..Default::default()
                },
            ));
        }
        plan.push(label, p.line, Resource::Release(p.release));
    }
    for (line, d) in disclosures {
        plan.push(label, line, Resource::Disclosure(d));
    }
    Ok(plan)
}
