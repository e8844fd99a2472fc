//! Editions of a transparency index: each edition is a resource that its
//! indicators belong to and disclosures point at; a report scores one
//! edition, never several together, and not before it was published.

use frontierwatch_proto::v1::*;
use serde_json::Value;
use tonic::Code;

use crate::datasets::data;
use crate::fixtures::date;
use crate::harness::{Client, TestServer, run_fwatch_status};

/// OpenAI's disclosed indicators in the Dec 2025 edition, from its scores
/// file.
fn openai_dec_2025() -> i32 {
    let mut reader = csv::Reader::from_path(data("fmti/Dec2025_scores.csv")).unwrap();
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "OpenAI")
        .expect("an OpenAI column");
    reader
        .records()
        .filter(|r| r.as_ref().unwrap().get(column).unwrap().trim() == "1")
        .count() as i32
}

fn import_jsonl(server: &TestServer, name: &str, lines: &[String]) -> (Option<i32>, Value) {
    let dir = std::env::temp_dir().join(format!("fw-editions-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.jsonl"));
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (code, out, err) = run_fwatch_status(
        server,
        &["-o", "json", "import", "jsonl", file.to_str().unwrap()],
        None,
    );
    let _ = std::fs::remove_dir_all(dir);
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|_| panic!("a JSON report: {out} {err}")),
    )
}

const SOURCE: &str = r#"{"provenance": {"sources": [{"uri": "https://crfm.stanford.edu/fmti/May-2024/index.html", "publisher": "Stanford CRFM", "kind": "SOURCE_KIND_DATASET"}]}}"#;

fn with_source(json: &str) -> String {
    let mut value: Value = serde_json::from_str(json).unwrap();
    let source: Value = serde_json::from_str(SOURCE).unwrap();
    let resource = value.as_object_mut().unwrap().values_mut().next().unwrap();
    resource["provenance"] = source["provenance"].clone();
    value.to_string()
}

/// An earlier edition, May 2024, whose indicator codes 001 to 003 are also
/// codes of the Dec 2025 edition; OpenAI disclosed two of the three.
fn may_2024() -> Vec<String> {
    let mut lines = vec![with_source(
        r#"{"transparencyIndex": {"name": "transparencyIndexes/fmti-2024-05", "displayName": "FMTI May 2024", "publisher": "Stanford CRFM", "editionDate": {"year": 2024, "month": 5, "day": 21}}}"#,
    )];
    for (code, domain) in [("001", "Upstream"), ("002", "Upstream"), ("003", "Model")] {
        lines.push(format!(
            r#"{{"indicator": {{"name": "indicators/fmti-2024-05-{code}", "displayName": "Indicator {code}", "transparencyIndex": "transparencyIndexes/fmti-2024-05", "code": "{code}", "domain": "{domain}"}}}}"#
        ));
    }
    for (code, status) in [
        ("001", "DISCLOSURE_STATUS_DISCLOSED"),
        ("002", "DISCLOSURE_STATUS_DISCLOSED"),
        ("003", "DISCLOSURE_STATUS_NOT_DISCLOSED"),
    ] {
        lines.push(with_source(&format!(
            r#"{{"disclosure": {{"name": "disclosures/fmti-2024-05-openai-{code}", "subject": "organizations/openai", "category": "DISCLOSURE_CATEGORY_OTHER", "status": "{status}", "transparencyIndex": "transparencyIndexes/fmti-2024-05", "indicatorCode": "{code}", "publishDate": {{"year": 2024, "month": 5}}}}}}"#
        )));
    }
    lines
}

async fn report(
    c: &mut Client,
    index: &str,
    as_of: (i32, i32, i32),
) -> Result<TransparencyReport, tonic::Status> {
    c.get_transparency_report(GetTransparencyReportRequest {
        organization: "organizations/openai".into(),
        index: index.into(),
        as_of: Some(date(as_of.0, as_of.1, as_of.2)),
        ..Default::default()
    })
    .await
    .map(tonic::Response::into_inner)
}

fn totals(report: &TransparencyReport) -> (i32, i32) {
    let overall = report.overall.as_ref().unwrap();
    (overall.disclosed, overall.indicators)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_editions_with_overlapping_codes_keep_their_own_totals() {
    let server = TestServer::start().await;
    let (code, _, err) = run_fwatch_status(
        &server,
        &["import", "fmti", data("fmti").to_str().unwrap()],
        None,
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, imported) = import_jsonl(&server, "may-2024", &may_2024());
    assert_eq!(code, Some(0), "{imported:#}");

    let mut c = server.client().await;
    let dec = "transparencyIndexes/fmti-2025-12";
    let may = "transparencyIndexes/fmti-2024-05";
    // Each edition reproduces its own totals.
    let dec_report = report(&mut c, dec, (2026, 1, 1)).await.unwrap();
    assert_eq!(totals(&dec_report), (openai_dec_2025(), 100));
    assert_eq!(dec_report.index, dec);
    let may_report = report(&mut c, may, (2024, 6, 1)).await.unwrap();
    assert_eq!(totals(&may_report), (2, 3));
    // By display name, exactly as stored.
    let by_display = report(&mut c, "FMTI May 2024", (2024, 6, 1)).await.unwrap();
    assert_eq!(totals(&by_display), (2, 3));

    // Without an index: the latest edition as of the date, never a sum.
    let latest = report(&mut c, "", (2026, 1, 1)).await.unwrap();
    assert_eq!(latest.index, dec);
    assert_eq!(totals(&latest), (openai_dec_2025(), 100));
    let then = report(&mut c, "", (2024, 6, 1)).await.unwrap();
    assert_eq!(then.index, may);
    assert_eq!(totals(&then), (2, 3));

    // An unknown index, spelled in another case, is not found.
    let unknown = report(&mut c, "fmti may 2024", (2024, 6, 1))
        .await
        .expect_err("no such index");
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let unknown = report(&mut c, "transparencyIndexes/fmti-2023-10", (2024, 6, 1))
        .await
        .expect_err("no such edition");
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");

    // Before an edition was published, it did not exist yet.
    for (index, as_of) in [(may, (2024, 1, 1)), (dec, (2025, 6, 1)), ("", (2023, 1, 1))] {
        let early = report(&mut c, index, as_of)
            .await
            .expect_err("not yet published");
        assert_eq!(early.code(), Code::FailedPrecondition, "{index}: {early:?}");
        assert!(early.message().contains("did not exist yet"), "{early:?}");
        let details = tonic_types::StatusExt::get_error_details(&early);
        assert_eq!(
            details.error_info().unwrap().reason,
            "INDEX_NOT_YET_PUBLISHED"
        );
    }

    // An indicator sent again under another edition is refused, not moved.
    let moved = format!(
        r#"{{"indicator": {{"name": "indicators/fmti-2024-05-001", "displayName": "Indicator 001", "transparencyIndex": "{dec}", "code": "001", "domain": "Upstream"}}}}"#
    );
    let (code, refused) = import_jsonl(&server, "moved", &[moved]);
    assert_eq!(code, Some(3), "{refused:#}");
    let reason = refused["rejected"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("transparency_index") && reason.contains("immutable"),
        "{reason}"
    );
    assert_eq!(
        totals(&report(&mut c, may, (2024, 6, 1)).await.unwrap()),
        (2, 3)
    );
    assert_eq!(
        totals(&report(&mut c, dec, (2026, 1, 1)).await.unwrap()),
        (openai_dec_2025(), 100)
    );

    // A disclosure that names an edition names the indicator's code too.
    let (code, refused) = import_jsonl(
        &server,
        "no-code",
        &[with_source(&format!(
            r#"{{"disclosure": {{"name": "disclosures/no-code", "subject": "organizations/openai", "category": "DISCLOSURE_CATEGORY_OTHER", "status": "DISCLOSURE_STATUS_DISCLOSED", "transparencyIndex": "{may}"}}}}"#
        ))],
    );
    assert_eq!(code, Some(3));
    assert!(
        refused["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("indicator_code"),
        "{refused:#}"
    );
}

/// An organization an edition did not assess is reported as not assessed,
/// never as 0 of N: FMTI Dec 2025 scored thirteen developers, and
/// Microsoft is not among them. An assessed one keeps its scores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_the_edition_did_not_assess_is_not_scored_zero() {
    let server = TestServer::start().await;
    let dir = data("fmti");
    crate::datasets::import(&server, &["fmti", dir.to_str().unwrap()]);
    let mut c = server.client().await;
    crate::fixtures::create_org(&mut c, "microsoft").await;
    let not_assessed = c
        .get_transparency_report(GetTransparencyReportRequest {
            organization: "organizations/microsoft".into(),
            ..Default::default()
        })
        .await
        .expect("a report")
        .into_inner();
    assert!(!not_assessed.assessed, "{not_assessed:?}");
    assert!(
        not_assessed.overall.is_none() && not_assessed.domains.is_empty(),
        "no score for an organization the edition left out: {not_assessed:?}"
    );
    assert!(!not_assessed.index.is_empty(), "the edition is named");

    let assessed = c
        .get_transparency_report(GetTransparencyReportRequest {
            organization: "organizations/openai".into(),
            ..Default::default()
        })
        .await
        .expect("a report")
        .into_inner();
    assert!(assessed.assessed);
    assert_eq!(
        assessed.overall.as_ref().map(|o| o.disclosed),
        Some(openai_dec_2025())
    );

    let (code, out, _) =
        run_fwatch_status(&server, &["transparency", "organizations/microsoft"], None);
    assert_eq!(code, Some(0));
    assert!(out.contains("was not assessed by"), "{out}");
    assert!(!out.contains(" of "), "no N of M for it: {out}");

    // The transparency timeline: one row per edition, the gap shown as such.
    let (code, out, _) = run_fwatch_status(
        &server,
        &["transparency", "organizations/microsoft", "--editions"],
        None,
    );
    assert_eq!(code, Some(0));
    assert!(out.contains("not assessed"), "{out}");
    let (code, out, _) = run_fwatch_status(
        &server,
        &["transparency", "organizations/openai", "--editions"],
        None,
    );
    assert_eq!(code, Some(0));
    assert!(
        out.contains(&format!("{} of ", openai_dec_2025())) && !out.contains("not assessed"),
        "{out}"
    );
}
