//! The `fwatch` commands, run as a user would type them.

use crate::harness::{TestServer, run_fwatch, run_fwatch_status};
use frontierwatch_proto::v1::*;

fn ok(result: (bool, String, String)) -> String {
    assert!(result.0, "fwatch failed:\n{}\n{}", result.1, result.2);
    result.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fwatch_commands_work_as_typed() {
    let server = TestServer::start().await;
    let s = &server;

    // create from YAML on stdin and from JSON
    let out = ok(run_fwatch(
        s,
        &["create", "organizations", "--id", "xai"],
        Some("displayName: xAI\ncountry: US\n"),
    ));
    assert!(out.contains("organizations/xai"), "{out}");
    ok(run_fwatch(
        s,
        &["create", "models", "--id", "grok", "-o", "json"],
        Some(r#"{"displayName": "Grok", "developers": ["organizations/xai"]}"#),
    ));
    let release = r#"
displayName: Grok 4
stage: LIFECYCLE_STAGE_GENERALLY_AVAILABLE
provenance:
  sources:
    - uri: https://x.ai/news/grok-4
      kind: SOURCE_KIND_VENDOR_ANNOUNCEMENT
"#;
    ok(run_fwatch(
        s,
        &[
            "create",
            "releases",
            "--parent",
            "models/grok",
            "--id",
            "grok-4",
        ],
        Some(release),
    ));

    // get, in each output format
    let table = ok(run_fwatch(s, &["get", "models/grok/releases/grok-4"], None));
    assert!(
        table.contains("displayName") && table.contains("Grok 4"),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(run_fwatch(
        s,
        &["-o", "json", "get", "organizations/xai"],
        None,
    )))
    .unwrap();
    assert_eq!(json["country"], "US");
    let yaml = ok(run_fwatch(s, &["-o", "yaml", "get", "models/grok"], None));
    assert!(yaml.contains("displayName: Grok"), "{yaml}");

    // list with a filter, as a table and as JSON
    let listed = ok(run_fwatch(
        s,
        &["list", "releases", "--filter", "parent=models/grok"],
        None,
    ));
    assert!(
        listed.lines().next().unwrap().starts_with("NAME"),
        "{listed}"
    );
    assert!(listed.contains("models/grok/releases/grok-4"), "{listed}");
    let none: serde_json::Value = serde_json::from_str(&ok(run_fwatch(
        s,
        &["-o", "json", "list", "organizations", "-f", "country=FR"],
        None,
    )))
    .unwrap();
    assert_eq!(none.as_array().map(Vec::len), Some(0));

    // update with a mask
    let updated: serde_json::Value = serde_json::from_str(&ok(run_fwatch(
        s,
        &[
            "-o",
            "json",
            "update",
            "organizations/xai",
            "--mask",
            "website",
        ],
        Some(r#"{"website": "https://x.ai", "country": "FR"}"#),
    )))
    .unwrap();
    assert_eq!(updated["website"], "https://x.ai");
    assert_eq!(updated["country"], "US", "only masked fields change");

    // errors are clear and exit non-zero
    let (success, _, err) = run_fwatch(s, &["delete", "organizations/xai"], None);
    assert!(!success);
    assert!(
        err.contains("FailedPrecondition") && err.contains("RESOURCE_IN_USE"),
        "{err}"
    );
    let (success, _, err) = run_fwatch(
        s,
        &["create", "organizations", "--id", "Bad Id"],
        Some("displayName: x"),
    );
    assert!(!success);
    assert!(err.contains("organization_id"), "{err}");

    // watch: a snapshot, then a live change
    let watcher = {
        let addr = s.addr;
        let token = s.token.clone();
        tokio::task::spawn_blocking(move || {
            let output = std::process::Command::new(crate::harness::fwatch())
                .args([
                    "--server",
                    &format!("http://{addr}"),
                    "--token",
                    &token,
                    "watch",
                    "--after",
                    "0",
                    "--limit",
                    "5",
                ])
                .output()
                .unwrap();
            String::from_utf8_lossy(&output.stdout).into_owned()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    ok(run_fwatch(
        s,
        &["delete", "models/grok/releases/grok-4"],
        None,
    ));
    let watched = tokio::time::timeout(std::time::Duration::from_secs(20), watcher)
        .await
        .unwrap()
        .unwrap();
    for expected in [
        "created   organizations/xai",
        "created   models/grok",
        "updated   organizations/xai",
        "deleted   models/grok/releases/grok-4",
    ] {
        let (kind, name) = expected.split_once(' ').unwrap();
        assert!(
            watched
                .lines()
                .any(|l| l.contains(kind) && l.trim_end().ends_with(name.trim())),
            "{expected:?} in\n{watched}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_import_maps_one_to_one_and_reports_bad_lines() {
    let server = TestServer::start().await;
    let dir = std::env::temp_dir().join(format!("fw-jsonl-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("items.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"organization": {"name": "organizations/xai", "displayName": "xAI"}}"#, "\n",
            "\n",
            r#"{"model": {"name": "models/grok", "displayName": "Grok", "developers": ["organizations/xai"]}}"#, "\n",
            "this is not json\n",
            r#"{"model": {"name": "models/ghost", "displayName": "Ghost", "developers": ["organizations/nobody"]}}"#, "\n",
        ),
    )
    .unwrap();
    let path = file.to_string_lossy().into_owned();
    // Some rows rejected: exit code 2, after the report.
    let (code, out, err) =
        run_fwatch_status(&server, &["-o", "json", "import", "jsonl", &path], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("2 of 4 rows were rejected"), "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["counts"]["organizations"]["created"], 1);
    assert_eq!(report["counts"]["models"]["created"], 1);
    let rejected: Vec<(u64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert_eq!(rejected[0].0, 4);
    assert!(rejected[0].1.contains("not JSON"));
    assert_eq!(rejected[1].0, 5);
    assert!(
        rejected[1].1.contains("organizations/nobody"),
        "{}",
        rejected[1].1
    );
    let (code, out, _) =
        run_fwatch_status(&server, &["-o", "json", "import", "jsonl", &path], None);
    assert_eq!(code, Some(2));
    let again: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(again["counts"]["organizations"]["unchanged"], 1);
    assert_eq!(again["counts"]["models"]["unchanged"], 1);

    // Every row rejected: exit code 3; every row imported: 0.
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, "not json\nnor this\n").unwrap();
    let (code, _, err) =
        run_fwatch_status(&server, &["import", "jsonl", &bad.to_string_lossy()], None);
    assert_eq!(code, Some(3), "{err}");
    let good = dir.join("good.jsonl");
    std::fs::write(
        &good,
        concat!(
            r#"{"organization": {"name": "organizations/good", "displayName": "Good"}}"#,
            "\n"
        ),
    )
    .unwrap();
    let (code, _, err) =
        run_fwatch_status(&server, &["import", "jsonl", &good.to_string_lossy()], None);
    assert_eq!(code, Some(0), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_results_with_a_percentage_land_on_their_benchmarks_scale() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    crate::fixtures::create_org(&mut c, "lab").await;
    crate::fixtures::create_model(&mut c, "line", &["lab"]).await;
    crate::fixtures::create_release(&mut c, "line", "v1", crate::fixtures::release("Line v1"))
        .await;
    // One benchmark already on the server (a percentage scale), one in the file.
    crate::fixtures::create_benchmark(&mut c, "pct", ScoreScale::Percent, "coding").await;
    let dir = std::env::temp_dir().join(format!("fw-jsonl-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scores.jsonl");
    let result = |id: &str, bench: &str, raw: &str, score: Option<f64>| {
        let score = score.map_or(String::new(), |s| format!(r#", "score": {s}"#));
        format!(
            r#"{{"benchmarkResult": {{"name": "benchmarkResults/{id}", "release": "models/line/releases/v1", "benchmark": "benchmarks/{bench}", "rawValue": "{raw}"{score}, "provenance": {{"sources": [{{"uri": "https://example.com/{id}"}}]}}}}}}"#
        )
    };
    let lines = [
        r#"{"benchmark": {"name": "benchmarks/frac", "displayName": "Fraction bench", "scale": "SCORE_SCALE_FRACTION", "direction": "SCORE_DIRECTION_HIGHER_IS_BETTER"}}"#.to_owned(),
        result("a", "frac", "53.1%", Some(53.1)),
        result("b", "frac", "53.1%", None),
        result("c", "pct", "53.1%", None),
        result("d", "frac", "53.1%", Some(12.0)),
    ];
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (code, out, err) = run_fwatch_status(
        &server,
        &["-o", "json", "import", "jsonl", &file.to_string_lossy()],
        None,
    );
    assert_eq!(code, Some(2), "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["counts"]["results"]["created"], 3, "{report:#}");
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["line"], 5);
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("disagrees")
    );
    for (id, expected) in [("a", 0.531), ("b", 0.531), ("c", 53.1)] {
        let stored = c
            .get_benchmark_result(GetBenchmarkResultRequest {
                name: format!("benchmarkResults/{id}"),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            (stored.score - expected).abs() < 1e-9,
            "{id}: {}",
            stored.score
        );
        assert_eq!(stored.raw_value, "53.1%");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Tables never cut a cell: a result whose release name is long keeps its
/// whole score in `fwatch list results` (it used to end `... on
/// benchmarks/gpqa: 0.`).
#[tokio::test]
async fn tables_never_cut_a_score_or_a_name() {
    use crate::fixtures::*;
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "lab").await;
    create_model(&mut c, "a-model-line-with-a-rather-long-name", &["lab"]).await;
    create_release(
        &mut c,
        "a-model-line-with-a-rather-long-name",
        "a-release-whose-name-is-longer-than-sixty-characters-easily",
        release("Long"),
    )
    .await;
    create_benchmark(&mut c, "gpqa", ScoreScale::Fraction, "reasoning").await;
    create_result(
        &mut c,
        "",
        result(
            "models/a-model-line-with-a-rather-long-name/releases/a-release-whose-name-is-longer-than-sixty-characters-easily",
            "benchmarks/gpqa",
            0.873_125,
        ),
    )
    .await;
    let listed = ok(run_fwatch(&server, &["list", "results"], None));
    assert!(
        listed.contains(
            "models/a-model-line-with-a-rather-long-name/releases/a-release-whose-name-is-longer-than-sixty-characters-easily on benchmarks/gpqa: 0.873125"
        ),
        "{listed}"
    );
}

/// `fwatch list ... | head`: the reader closes the pipe early, and fwatch
/// ends quietly by SIGPIPE, as command-line tools do, instead of
/// panicking on the failed write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_fwatch_quietly() {
    use std::io::{BufRead as _, BufReader};
    use std::os::unix::process::ExitStatusExt as _;
    let server = TestServer::start().await;
    let mut c = server.client().await;
    let items: Vec<ImportItem> = (0..3000)
        .map(|i| ImportItem {
            line: i,
            resource: Some(import_item::Resource::Organization(Organization {
                name: format!("organizations/pipe-{i}"),
                display_name: format!("An organization with a long name, number {i}"),
                ..Default::default()
            })),
        })
        .collect();
    c.import_resources(ImportResourcesRequest {
        items,
        source: None,
    })
    .await
    .unwrap();
    let mut child = std::process::Command::new(crate::harness::fwatch())
        .args([
            "--server",
            &format!("http://{}", server.addr),
            "--token",
            &server.token,
        ])
        .args(["list", "organizations", "--all"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone: the rest of the table goes nowhere.
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(first.starts_with("NAME"), "{first}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        output.status.signal(),
        Some(13),
        "ended by SIGPIPE: {:?}",
        output.status
    );
}
