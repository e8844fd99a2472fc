//! The Foundation Model Transparency Index, Dec 2025 (Stanford CRFM, CC BY
//! 4.0): its 100 indicators, and each developer's disclosure for each
//! indicator with its status and text.
//!
//! Rules: the edition is `transparencyIndexes/fmti-2025-12` (published in
//! December 2025; the files give no day); indicator N (its position in
//! Dec2025_indicators.csv) is `indicators/fmti-2025-12-NNN` of that edition,
//! with the code NNN; each row of Dec2025_reports_long.csv is a disclosure
//! `disclosures/fmti-2025-12-{developer}-NNN` answering the edition's
//! indicator NNN with status disclosed (score 1) or not disclosed (score 0);
//! developers resolve to organizations through their aliases.

use std::collections::HashMap;
use std::path::Path;

use frontierwatch_client::proto::{
    Date, Disclosure, DisclosureCategory, DisclosureStatus, Indicator, Organization,
    TransparencyIndex, import_item::Resource,
};

use super::resolve::key;
use super::rows::{get, read_csv};
use super::{Plan, Resolver, dataset_source, provenance};

const COMMIT: &str = "f4500c5f4763966fddf71c468a148533a1236290";
const INDEX: &str = "FMTI Dec 2025";
const EDITION: &str = "transparencyIndexes/fmti-2025-12";

fn source(path: &str) -> frontierwatch_client::proto::Source {
    dataset_source(
        format!("https://github.com/stanford-crfm/fmti/blob/{COMMIT}/{path}"),
        "Stanford CRFM",
    )
}

fn category(subdomain: &str) -> DisclosureCategory {
    let sub = subdomain.to_lowercase();
    if sub.contains("compute") {
        DisclosureCategory::TrainingCompute
    } else if sub.contains("data") {
        DisclosureCategory::TrainingDataProvenance
    } else if sub.contains("hardware") {
        DisclosureCategory::ComputeHardware
    } else {
        DisclosureCategory::Other
    }
}

pub fn plan(dir: &Path, resolver: &mut Resolver) -> anyhow::Result<Plan> {
    let mut plan = Plan {
        source: Some(source("")),
        ..Plan::default()
    };
    let indicators_file = "Dec2025_indicators.csv";
    plan.push(
        indicators_file,
        1,
        Resource::TransparencyIndex(TransparencyIndex {
            name: EDITION.to_owned(),
            display_name: INDEX.to_owned(),
            publisher: "Stanford CRFM".to_owned(),
            edition_date: Some(Date {
                year: 2025,
                month: 12,
                day: 0,
            }),
            description: "The Foundation Model Transparency Index, December 2025 edition: 100 indicators of what developers disclose.".to_owned(),
            provenance: provenance(vec![source("")]),
            ..Default::default()
        }),
    );
    let mut codes: HashMap<String, String> = HashMap::new();
    for (n, (line, row)) in read_csv(&dir.join(indicators_file))?
        .into_iter()
        .enumerate()
    {
        let display = get(&row, "Indicator").to_owned();
        let code = format!("fmti-2025-12-{:03}", n + 1);
        if codes.insert(key(&display), code.clone()).is_some() {
            plan.reject(
                indicators_file,
                line,
                "indicators",
                &display,
                "the same indicator appears twice",
            );
            continue;
        }
        plan.push(
            indicators_file,
            line,
            Resource::Indicator(Indicator {
                name: format!("indicators/{code}"),
                display_name: display,
                index: INDEX.to_owned(),
                transparency_index: EDITION.to_owned(),
                code: format!("{:03}", n + 1),
                domain: get(&row, "Domain").to_owned(),
                subdomain: get(&row, "Subdomain").to_owned(),
                definition: get(&row, "Definition").to_owned(),
                notes: get(&row, "Notes").to_owned(),
                provenance: provenance(vec![source("Dec2025/indicators.csv")]),
                ..Default::default()
            }),
        );
    }
    let reports_file = "Dec2025_reports_long.csv";
    let mut disclosures = Vec::new();
    for (line, row) in read_csv(&dir.join(reports_file))? {
        let company = get(&row, "company");
        let indicator = get(&row, "Indicator");
        let label = format!("{company}: {indicator}");
        let org = match resolver.organization(
            &mut plan,
            reports_file,
            line,
            company,
            None,
            Organization::default(),
        ) {
            Ok(org) => org,
            Err(reason) => {
                plan.reject(reports_file, line, "disclosures", &label, reason);
                continue;
            }
        };
        let Some(code) = codes.get(&key(indicator)) else {
            plan.reject(
                reports_file,
                line,
                "disclosures",
                &label,
                format!("indicator {indicator:?} is not in {indicators_file}"),
            );
            continue;
        };
        let status = match get(&row, "Score") {
            "1" | "1.0" => DisclosureStatus::Disclosed,
            "0" | "0.0" => DisclosureStatus::NotDisclosed,
            other => {
                plan.reject(
                    reports_file,
                    line,
                    "disclosures",
                    &label,
                    format!("score {other:?} is neither 0 nor 1"),
                );
                continue;
            }
        };
        let org_id = org.rsplit('/').next().unwrap_or_default();
        let number = code.rsplit('-').next().unwrap_or_default();
        // Readable while it fits in an id; a long developer id is hashed.
        let mut id = format!("fmti-2025-12-{org_id}-{number}");
        if id.len() > 63 {
            id = format!("fmti-2025-12-h{}-{number}", super::fnv(org_id));
        }
        disclosures.push((
            line,
            Disclosure {
                name: format!("disclosures/{id}"),
                subject: org,
                category: category(get(&row, "subdomain")) as i32,
                transparency_index: EDITION.to_owned(),
                indicator_code: number.to_owned(),
                status: status as i32,
                statement: get(&row, "Disclosure").to_owned(),
                publish_date: Some(Date {
                    year: 2025,
                    month: 12,
                    day: 0,
                }),
                provenance: provenance(vec![source(get(&row, "source_file"))]),
                ..Default::default()
            },
        ));
    }
    // Organizations were planned as they were met; disclosures follow them.
    for (line, d) in disclosures {
        plan.push(reports_file, line, Resource::Disclosure(d));
    }
    Ok(plan)
}
