//! Epoch AI, "Notable AI Models" (epoch.ai, CC BY 4.0): organizations, model
//! lines and releases with dates, parameter and compute estimates with their
//! confidence, and training hardware and datasets as disclosures.
//!
//! Rules, so that counts can be derived from the file:
//! - each row is a release, id from the model's name; its model line is the
//!   leading letters of that id (`gpt-4` → `gpt`), developed by every
//!   organization named in the rows of that line (the field may name several,
//!   comma-separated);
//! - organizations resolve through stored aliases ("DeepMind" is Google
//!   DeepMind); a row without organization whose model line has none either
//!   is reported;
//! - a non-empty training hardware and a non-empty training dataset each
//!   become a disclosure about the release.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use frontierwatch_client::names::slug;
use frontierwatch_client::proto::{
    AccessKind, Confidence, Disclosure, DisclosureCategory, DisclosureStatus, Estimate, Model,
    Organization, Release, Source, SourceKind, VariantKind, import_item::Resource,
};

use super::rows::{base_first, day, get, line_of, read_csv};
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

    // First pass: organizations, release ids and model lines.
    struct Planned {
        line: u64,
        name: String,
        release: Release,
        base: String,
        hardware: String,
        dataset: String,
    }
    let mut planned: Vec<Planned> = Vec::new();
    let mut lines: BTreeMap<String, (String, BTreeSet<String>, u64)> = BTreeMap::new();
    let mut by_model_name: BTreeMap<String, String> = BTreeMap::new();
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
        let line_id = line_of(&release_id);
        if line_id.is_empty() {
            plan.reject(
                label,
                *line,
                "releases",
                &model,
                "the model name does not start with a letter",
            );
            continue;
        }
        let name = format!("models/{line_id}/releases/{release_id}");
        if by_model_name.values().any(|n| *n == name) {
            plan.reject(
                label,
                *line,
                "releases",
                &model,
                format!("another model has the same id ({release_id})"),
            );
            continue;
        }
        let mut developers = BTreeSet::new();
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
                Ok(org) => {
                    developers.insert(org);
                }
                Err(reason) => refused = Some(reason),
            }
        }
        if let Some(reason) = refused {
            plan.reject(label, *line, "releases", &model, reason);
            continue;
        }
        let entry = lines.entry(line_id.clone()).or_insert_with(|| {
            (
                model
                    .split([' ', '-'])
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                BTreeSet::new(),
                *line,
            )
        });
        entry.1.extend(developers);
        by_model_name.insert(model.clone(), name.clone());
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
            name: name.clone(),
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
            name,
            release,
            base: get(row, "Base model").trim().to_owned(),
            hardware,
            dataset: get(row, "Training dataset").to_owned(),
        });
    }

    // Model lines need a developer; releases of lines without one are reported.
    let mut orphan_lines = BTreeSet::new();
    for (line_id, (display, developers, line)) in &lines {
        if developers.is_empty() {
            orphan_lines.insert(format!("models/{line_id}"));
            continue;
        }
        plan.push(
            label,
            *line,
            Resource::Model(Model {
                name: format!("models/{line_id}"),
                display_name: if display.is_empty() {
                    line_id.clone()
                } else {
                    display.clone()
                },
                developers: developers.iter().cloned().collect(),
                ..Default::default()
            }),
        );
    }
    let mut bases: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut kept: BTreeMap<String, Planned> = BTreeMap::new();
    for p in planned {
        let line_name = p
            .name
            .split("/releases/")
            .next()
            .unwrap_or_default()
            .to_owned();
        if orphan_lines.contains(&line_name) {
            plan.reject(
                label,
                p.line,
                "releases",
                &p.release.display_name,
                "no organization develops its model line",
            );
            continue;
        }
        let base = by_model_name
            .get(&p.base)
            .filter(|b| **b != p.name)
            .cloned();
        bases.insert(p.name.clone(), base);
        kept.insert(p.name.clone(), p);
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
