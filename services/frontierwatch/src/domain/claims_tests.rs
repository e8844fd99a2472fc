//! Tests of the merge of several sources' claims (`domain::claims`).
use frontierwatch_proto::v1::{Date, Model, Release};

use super::*;

fn day(year: i32, month: i32, day: i32) -> Option<ApproximateDate> {
    Some(ApproximateDate {
        date: Some(Date { year, month, day }),
        precision: DatePrecision::Day as i32,
    })
}

fn month(year: i32, month: i32) -> Option<ApproximateDate> {
    Some(ApproximateDate {
        date: Some(Date {
            year,
            month,
            day: 0,
        }),
        precision: DatePrecision::Month as i32,
    })
}

fn source(uri: &str, kind: SourceKind) -> Source {
    Source {
        uri: uri.to_owned(),
        kind: kind as i32,
        ..Default::default()
    }
}

fn release(date: Option<ApproximateDate>, sources: Vec<Source>) -> Release {
    Release {
        name: "models/o/releases/o3-mini".to_owned(),
        display_name: "o3-mini".to_owned(),
        release_date: date,
        provenance: Some(Provenance { sources }),
        ..Default::default()
    }
}

fn claim<T>(claimant: &str, authority: Authority, resource: T) -> Claim<T> {
    Claim {
        claimant: claimant.to_owned(),
        authority,
        fields: None,
        resource,
    }
}

#[test]
fn a_merge_keeps_every_source_and_lists_disagreement_whatever_the_order() {
    let llm = claim(
        "LLM-Stats",
        4,
        Release {
            announce_date: day(2025, 1, 29),
            ..release(
                day(2025, 1, 30),
                vec![
                    source("https://openai.com/o3-mini-card", SourceKind::SystemCard),
                    source("https://llm-stats.example/o3-mini", SourceKind::Dataset),
                ],
            )
        },
    );
    let epoch = claim(
        "Epoch AI",
        4,
        release(
            day(2025, 1, 31),
            vec![source("https://epoch.ai/data", SourceKind::Dataset)],
        ),
    );
    let name = "models/o/releases/o3-mini";
    let one = merge(name, &[llm.clone(), epoch.clone()]).unwrap();
    let other = merge(name, &[epoch, llm]).unwrap();
    assert_eq!(one, other, "the order of claims does not matter");
    assert_eq!(one.provenance.unwrap().sources.len(), 3);
    assert_eq!(one.announce_date, day(2025, 1, 29), "kept though unset");
    assert_eq!(one.conflicts.len(), 1, "{:?}", one.conflicts);
    let conflict = &one.conflicts[0];
    assert_eq!(conflict.field, "release_date");
    assert_eq!(conflict.claims.len(), 2);
    // Both datasets: the fuller record (it has an announce date) wins.
    assert!(conflict.claims[0].current);
    assert_eq!(conflict.claims[0].claimants, vec!["LLM-Stats"]);
    assert!(
        conflict.claims[0].value.contains("\"day\":30"),
        "{conflict:?}"
    );
    assert_eq!(conflict.claims[1].claimants, vec!["Epoch AI"]);
    assert_eq!(one.release_date, day(2025, 1, 30));
}

#[test]
fn the_developers_own_source_and_the_more_precise_date_win() {
    let vendor = claim(
        "https://x.ai/news",
        authority_of(SourceKind::VendorAnnouncement as i32),
        release(month(2025, 7), vec![]),
    );
    let dataset = claim("A dataset", 4, release(day(2025, 7, 9), vec![]));
    let name = "models/o/releases/o3-mini";
    let merged = merge(name, &[dataset.clone(), vendor]).unwrap();
    assert_eq!(merged.release_date.unwrap().precision, 2, "the vendor wins");
    let other = claim("Another dataset", 4, release(day(2025, 7, 9), vec![]));
    let coarse = claim("B dataset", 4, release(month(2025, 7), vec![]));
    let merged = merge(name, &[coarse, other, dataset]).unwrap();
    assert_eq!(
        merged.release_date,
        day(2025, 7, 9),
        "the precise date wins"
    );
}

#[test]
fn a_settlement_decides_its_fields_against_every_source() {
    let name = "models/o";
    let model = |display: &str, alias: &str| Model {
        name: name.to_owned(),
        display_name: display.to_owned(),
        developers: vec!["organizations/openai".to_owned()],
        aliases: vec![alias.to_owned()],
        ..Default::default()
    };
    let claims = vec![
        claim("LLM-Stats", 4, model("o1", "o-one")),
        claim("Epoch AI", 4, model("o3", "o-three")),
    ];
    let merged = merge(name, &claims).unwrap();
    assert_eq!(merged.display_name, "o3", "Epoch AI sorts first");
    assert_eq!(
        merged.aliases,
        vec!["o-three", "o-one", "o1"],
        "a union, with the name not shown"
    );
    assert!(!merged.conflicts[0].settled);
    let mut settled = claims.clone();
    settled.push(Claim {
        claimant: SETTLED.to_owned(),
        authority: SETTLEMENT,
        fields: Some(vec!["display_name".to_owned()]),
        resource: model("OpenAI o-series", "ignored"),
    });
    let merged = merge(name, &settled).unwrap();
    assert_eq!(merged.display_name, "OpenAI o-series");
    assert_eq!(
        merged.aliases,
        vec!["o-three", "o-one", "o3", "o1"],
        "not decided"
    );
    assert!(merged.conflicts[0].settled);
    assert_eq!(merged.conflicts[0].claims.len(), 3);
    assert_eq!(merged.conflicts[0].claims[0].claimants, vec![SETTLED]);
}

#[test]
fn one_claim_merges_to_itself() {
    let only = release(
        day(2025, 1, 30),
        vec![source("https://a.example", SourceKind::Paper)],
    );
    let merged = merge(&only.name, &[claim("a", 1, only.clone())]).unwrap();
    assert_eq!(merged, only);
}

#[test]
fn the_provenance_read_from_the_encoding_is_the_one_reflection_reads() {
    let sources = vec![
        source("https://example.com/a", SourceKind::Press),
        source("https://example.com/b", SourceKind::Dataset),
    ];
    let with = release(day(2025, 7, 9), sources);
    let without = release(day(2025, 7, 9), Vec::new());
    for resource in [&with, &without, &Release::default()] {
        // Reflection reads an unset field as its default.
        assert_eq!(
            provenance_of_resource(resource)
                .unwrap()
                .unwrap_or_default(),
            provenance_of(&to_dynamic(resource).unwrap()).unwrap_or_default(),
            "{resource:?}"
        );
    }
    assert_eq!(
        claimant(&with, None).unwrap(),
        claimant_of_source(&with.provenance.as_ref().unwrap().sources[1])
    );
    // A kind without provenance has none.
    assert_eq!(provenance_of_resource(&Model::default()).unwrap(), None);
}
