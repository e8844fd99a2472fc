//! Importing the three public datasets in ../shared/data through the CLI:
//! complete, idempotent, and precise about rows at fault.
//!
//! Data: LLM-Stats (CC BY 4.0), Epoch AI "Notable AI Models" (CC BY 4.0),
//! Stanford CRFM Foundation Model Transparency Index (CC BY 4.0).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::{TestServer, run_fwatch};

fn data(path: &str) -> PathBuf {
    // The shared data lies beside the repository.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(path)
}

fn import(server: &TestServer, args: &[&str]) -> Value {
    let mut full = vec!["-o", "json", "import"];
    full.extend_from_slice(args);
    let (ok, out, err) = run_fwatch(server, &full, None);
    assert!(ok, "import failed: {err}");
    serde_json::from_str(&out).expect("the report is JSON")
}

fn count(report: &Value, kind: &str, what: &str) -> u64 {
    report["counts"][kind][what].as_u64().unwrap_or(0)
}

fn assert_counts(report: &Value, expected: &[(&str, u64, u64)]) {
    for (kind, created, rejected) in expected {
        assert_eq!(
            count(report, kind, "created"),
            *created,
            "{kind} created: {report:#}"
        );
        assert_eq!(
            count(report, kind, "rejected"),
            *rejected,
            "{kind} rejected"
        );
    }
}

fn assert_second_run_creates_nothing(report: &Value, expected: &[(&str, u64, u64)]) {
    for (kind, created, _) in expected {
        assert_eq!(count(report, kind, "created"), 0, "{kind}: {report:#}");
        assert_eq!(count(report, kind, "updated"), 0, "{kind}");
        assert_eq!(
            count(report, kind, "unchanged"),
            *created,
            "{kind} unchanged"
        );
    }
}

async fn stored(server: &TestServer, kind: &str) -> u64 {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM resources WHERE kind = $1")
        .bind(kind)
        .fetch_one(&server.pool().await)
        .await
        .unwrap();
    n as u64
}

fn rejected_lines(report: &Value, file: &str) -> Vec<u64> {
    report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["file"] == file)
        .map(|r| r["line"].as_u64().unwrap())
        .collect()
}

/// Copies a CSV file with some cells replaced; returns the line on which
/// each edited record starts.
fn corrupt(src: &Path, dst: &Path, edits: &[(usize, &str, &str)]) -> Vec<u64> {
    let mut reader = csv::Reader::from_path(src).unwrap();
    let headers = reader.headers().unwrap().clone();
    let mut writer = csv::Writer::from_path(dst).unwrap();
    writer.write_record(&headers).unwrap();
    for (i, record) in reader.records().enumerate() {
        let mut record: Vec<String> = record.unwrap().iter().map(str::to_owned).collect();
        for (index, column, value) in edits {
            if *index == i {
                let c = headers.iter().position(|h| h == *column).unwrap();
                record[c] = (*value).to_owned();
            }
        }
        writer.write_record(&record).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);
    let mut lines = Vec::new();
    let mut reader = csv::Reader::from_path(dst).unwrap();
    for (i, record) in reader.records().enumerate() {
        if edits.iter().any(|(index, ..)| *index == i) {
            lines.push(record.unwrap().position().unwrap().line());
        }
    }
    lines
}

fn temp_copy(dir: &Path) -> PathBuf {
    let copy = std::env::temp_dir().join(format!("fw-data-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    copy
}

/// LLM-Stats, from its four files:
/// - organizations: the 17 rows of organizations.csv;
/// - models: 25 model lines, the distinct leading letters of the 164 model
///   ids (`claude-3-5-sonnet` → `claude`);
/// - releases: the 164 rows of models.csv;
/// - benchmarks: 339 rows, less 2 that are the same benchmark under a second
///   spelling (`humaneval+`/`humaneval-plus`, `mbpp+`/`mbpp-plus`) = 337;
/// - results: 2,192 rows, less 8 repeats of a (model, benchmark) pair and 12
///   on benchmark ids absent from benchmarks.csv (four translation ids for
///   each of the three Nova models) = 2,172.
const LLM_STATS: &[(&str, u64, u64)] = &[
    ("organizations", 17, 0),
    ("models", 25, 0),
    ("releases", 164, 0),
    ("benchmarks", 337, 2),
    ("results", 2172, 20),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_stats_imports_completely_once() {
    let server = TestServer::start().await;
    let dir = data("llm_stats");
    let first = import(&server, &["llm-stats", dir.to_str().unwrap()]);
    assert_counts(&first, LLM_STATS);
    assert_eq!(stored(&server, "benchmark_result").await, 2172);
    assert_eq!(stored(&server, "benchmark").await, 337);
    let second = import(&server, &["llm-stats", dir.to_str().unwrap()]);
    assert_second_run_creates_nothing(&second, LLM_STATS);

    // Aliases: the spellings results use resolve to one benchmark.
    let (ok, out, _) = run_fwatch(&server, &["-o", "json", "get", "benchmarks/mmlu"], None);
    assert!(ok);
    let mmlu: Value = serde_json::from_str(&out).unwrap();
    let aliases: Vec<&str> = mmlu["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(aliases.contains(&"Mmlu"), "{aliases:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_llm_stats_copy_reports_the_rows_at_fault_and_imports_the_rest() {
    let server = TestServer::start().await;
    let copy = temp_copy(&data("llm_stats"));
    let file = copy.join("benchmark_results.csv");
    let original = data("llm_stats/benchmark_results.csv");
    let faults = corrupt(
        &original,
        &file,
        &[
            (100, "score", "not-a-number"),
            (200, "model_id", "no-such-model"),
            (300, "score", ""),
        ],
    );
    let report = import(&server, &["llm-stats", copy.to_str().unwrap()]);
    let lines = rejected_lines(&report, "benchmark_results.csv");
    for fault in &faults {
        assert!(lines.contains(fault), "line {fault} is reported: {lines:?}");
    }
    assert_eq!(
        lines.len(),
        20 + 3,
        "exactly the faulty rows besides the known ones"
    );
    assert_eq!(count(&report, "results", "created"), 2172 - 3);
    let _ = std::fs::remove_dir_all(copy);
}

/// Epoch AI, from its one file of 976 rows:
/// - organizations: 362, the distinct spellings of the Organization field
///   (split on commas) once "DeepMind" is Google DeepMind and the other known
///   aliases are folded;
/// - releases: 976 rows less 15 whose model line has no organization at all
///   = 961; models: 650 model lines (leading letters of the release ids)
///   with a developer;
/// - disclosures: 969, one per non-empty training hardware (352 rows) and
///   per non-empty training dataset, among the 961 releases.
const EPOCH: &[(&str, u64, u64)] = &[
    ("organizations", 362, 0),
    ("models", 650, 0),
    ("releases", 961, 15),
    ("disclosures", 969, 0),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epoch_imports_completely_once() {
    let server = TestServer::start().await;
    let file = data("epoch_models/notable_ai_models_accessed_2026-01-26.csv");
    let first = import(&server, &["epoch", file.to_str().unwrap()]);
    assert_counts(&first, EPOCH);
    assert_eq!(stored(&server, "release").await, 961);
    let second = import(&server, &["epoch", file.to_str().unwrap()]);
    // Organizations are resolved, not re-sent, on the second run.
    assert_second_run_creates_nothing(&second, &EPOCH[1..]);
    assert_eq!(count(&second, "organizations", "created"), 0);

    let (ok, out, _) = run_fwatch(
        &server,
        &["-o", "json", "get", "organizations/google-deepmind"],
        None,
    );
    assert!(ok);
    assert!(out.contains("DeepMind"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_epoch_copy_reports_the_rows_at_fault_and_imports_the_rest() {
    let server = TestServer::start().await;
    let copy = temp_copy(&data("epoch_models"));
    let name = "notable_ai_models_accessed_2026-01-26.csv";
    let faults = corrupt(
        &data("epoch_models").join(name),
        &copy.join(name),
        &[(10, "Model", "   "), (20, "Model", "***")],
    );
    let report = import(&server, &["epoch", copy.join(name).to_str().unwrap()]);
    let lines = rejected_lines(&report, name);
    for fault in &faults {
        assert!(lines.contains(fault), "line {fault} is reported: {lines:?}");
    }
    assert_eq!(lines.len(), 15 + 2);
    assert_eq!(count(&report, "releases", "created"), 961 - 2);
    let _ = std::fs::remove_dir_all(copy);
}

/// FMTI Dec 2025: 100 indicators (rows of Dec2025_indicators.csv); 13
/// developers (organizations); 1,300 disclosures, one per developer and
/// indicator (rows of Dec2025_reports_long.csv).
const FMTI: &[(&str, u64, u64)] = &[
    ("indicators", 100, 0),
    ("organizations", 13, 0),
    ("disclosures", 1300, 0),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fmti_imports_completely_once() {
    let server = TestServer::start().await;
    let dir = data("fmti");
    let first = import(&server, &["fmti", dir.to_str().unwrap()]);
    assert_counts(&first, FMTI);
    let second = import(&server, &["fmti", dir.to_str().unwrap()]);
    assert_second_run_creates_nothing(&second, &[FMTI[0], FMTI[2]]);
    assert_eq!(stored(&server, "disclosure").await, 1300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_fmti_copy_reports_the_rows_at_fault_and_imports_the_rest() {
    let server = TestServer::start().await;
    let copy = temp_copy(&data("fmti"));
    let name = "Dec2025_reports_long.csv";
    let faults = corrupt(
        &data("fmti").join(name),
        &copy.join(name),
        &[(5, "Score", "2"), (700, "Indicator", "No such indicator")],
    );
    let report = import(&server, &["fmti", copy.to_str().unwrap()]);
    assert_eq!(rejected_lines(&report, name), faults);
    assert_eq!(count(&report, "disclosures", "created"), 1298);
    let _ = std::fs::remove_dir_all(copy);
}
