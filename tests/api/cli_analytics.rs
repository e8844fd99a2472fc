//! The analytics from the command line, run as typed: `fwatch leaderboard`,
//! `compare`, `cadence`, `transparency` and `timeline`, as tables and JSON.

use frontierwatch_proto::v1::*;
use serde_json::Value;

use crate::fixtures::*;
use crate::harness::{TestServer, run_fwatch, run_fwatch_status};

fn ok(server: &TestServer, args: &[&str]) -> String {
    let (code, out, err) = run_fwatch_status(server, args, None);
    assert_eq!(code, Some(0), "fwatch {args:?}: {err}");
    out
}

fn json(server: &TestServer, args: &[&str]) -> Value {
    let mut full = vec!["-o", "json"];
    full.extend_from_slice(args);
    serde_json::from_str(&ok(server, &full)).expect("JSON output")
}

/// The table row (whitespace-separated cells) that contains `needle`.
fn row<'a>(table: &'a str, needle: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no row with {needle}:\n{table}"))
        .split_whitespace()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaderboard_and_compare_from_the_command_line() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    create_org(&mut c, "lab").await;
    create_model(&mut c, "line", &["lab"]).await;
    create_release(&mut c, "line", "v1", release("Line v1")).await;
    create_release(&mut c, "line", "v2", release("Line v2")).await;
    create_benchmark(&mut c, "bench", ScoreScale::Percent, "coding").await;
    create_result(
        &mut c,
        "r1",
        result("models/line/releases/v1", "benchmarks/bench", 61.5),
    )
    .await;
    create_result(
        &mut c,
        "r2",
        result("models/line/releases/v2", "benchmarks/bench", 70.25),
    )
    .await;

    let table = ok(&server, &["leaderboard", "bench"]);
    assert!(table.contains("RANK"), "{table}");
    assert_eq!(
        row(&table, "releases/v2")[..4],
        ["1", "models/line", "models/line/releases/v2", "70.25"]
    );
    assert_eq!(row(&table, "releases/v1")[0], "2");
    let board = json(
        &server,
        &["leaderboard", "benchmarks/bench", "--limit", "1"],
    );
    let rows = board["sections"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{board:#}");
    assert_eq!(rows[0]["release"], "models/line/releases/v2");
    // As the board stood before any result: empty.
    let before = ok(&server, &["leaderboard", "bench", "--as-of", "2000-01-01"]);
    assert!(before.contains("no results"), "{before}");
    // Grouped by model line: one row.
    let grouped = json(
        &server,
        &["leaderboard", "bench", "--grouping", "model-best"],
    );
    assert_eq!(grouped["sections"][0]["rows"].as_array().unwrap().len(), 1);
    // A bad date and an unknown benchmark are clear errors.
    let (code, _, err) = run_fwatch_status(
        &server,
        &["leaderboard", "bench", "--as-of", "2026-13-01"],
        None,
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    let (ok_, _, err) = run_fwatch(&server, &["leaderboard", "nothing-here"], None);
    assert!(!ok_ && err.contains("NotFound"), "{err}");

    let table = ok(
        &server,
        &[
            "compare",
            "models/line/releases/v1",
            "models/line/releases/v2",
        ],
    );
    let v2 = row(&table, "releases/v2");
    assert!(
        v2.contains(&"benchmarks/bench") && v2.contains(&"70.25"),
        "{table}"
    );
    assert!(
        table.contains("+8.75") || table.contains("-8.75"),
        "{table}"
    );
    let compared = json(
        &server,
        &[
            "compare",
            "models/line/releases/v1",
            "models/line/releases/v2",
        ],
    );
    assert_eq!(compared["comparisons"][0]["benchmark"], "benchmarks/bench");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cadence_and_timeline_from_the_command_line() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    crate::analytics::monthly_commitment(&mut c, None).await;

    let table = ok(&server, &["cadence", "monthly", "--as-of", "2026-07-15"]);
    assert!(
        table.contains("commitments/monthly as of 2026-07-15"),
        "{table}"
    );
    assert_eq!(row(&table, "2026-01-01")[2], "met", "{table}");
    assert!(table.contains("missed"), "{table}");
    let report = json(
        &server,
        &["cadence", "commitments/monthly", "--as-of", "2026-07-15"],
    );
    let rpc = c
        .get_cadence_report(GetCadenceReportRequest {
            commitment: "commitments/monthly".into(),
            as_of: Some(date(2026, 7, 15)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        report["windows"].as_array().unwrap().len(),
        rpc.windows.len()
    );
    assert_eq!(report["missed"], rpc.missed);

    let table = ok(&server, &["timeline", "models/mono"]);
    let jan = table
        .lines()
        .find(|l| l.contains("m-jan") && l.contains("released"))
        .unwrap_or_else(|| panic!("m-jan's release:\n{table}"));
    assert!(jan.starts_with("2026-01-10"), "{table}");
    let timeline = json(&server, &["timeline", "models/mono"]);
    let rpc = c
        .get_timeline(GetTimelineRequest {
            subject: "models/mono".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        timeline["events"].as_array().unwrap().len(),
        rpc.events.len()
    );
    assert!(rpc.events.len() >= 6, "{timeline:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transparency_from_the_command_line() {
    let server = TestServer::start().await;
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fmti");
    ok(
        &server,
        &["-o", "json", "import", "fmti", dir.to_str().unwrap()],
    );
    let mut c = server.client().await;
    let org = c
        .list_organizations(ListOrganizationsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .organizations
        .remove(0);
    let rpc = c
        .get_transparency_report(GetTransparencyReportRequest {
            organization: org.name.clone(),
            index: "FMTI Dec 2025".into(),
            as_of: Some(date(2026, 1, 1)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let overall = rpc.overall.unwrap();
    let table = ok(
        &server,
        &[
            "transparency",
            &org.name,
            "--index",
            "FMTI Dec 2025",
            "--as-of",
            "2026-01-01",
        ],
    );
    let cells = row(&table, "overall");
    assert_eq!(
        cells[1..4],
        [overall.disclosed.to_string().as_str(), "of", "100"],
        "{table}"
    );
    assert_eq!(
        table.lines().filter(|l| l.ends_with('%')).count(),
        1 + rpc.domains.len() + rpc.subdomains.len(),
        "{table}"
    );
    let report = json(
        &server,
        &["transparency", &org.name, "--index", "FMTI Dec 2025"],
    );
    assert_eq!(report["overall"]["indicators"], 100);
}
