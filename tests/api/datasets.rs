//! Importing the three public datasets in ../shared/data through the CLI:
//! complete, idempotent, and precise about rows at fault.
//!
//! Data: LLM-Stats (CC BY 4.0), Epoch AI "Notable AI Models" (CC BY 4.0),
//! Stanford CRFM Foundation Model Transparency Index (CC BY 4.0).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use frontierwatch_proto::v1::*;
use serde_json::Value;

use crate::harness::{TestServer, run_fwatch, run_fwatch_status};

pub(crate) fn data(path: &str) -> PathBuf {
    // The shared data lies beside the repository.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(path)
}

/// Runs an import; checks its exit code: 0 when every row was imported, 2
/// when some were rejected.
pub(crate) fn import(server: &TestServer, args: &[&str]) -> Value {
    let mut full = vec!["-o", "json", "import"];
    full.extend_from_slice(args);
    let (code, out, err) = run_fwatch_status(server, &full, None);
    let report: Value = serde_json::from_str(&out).expect("the report is JSON");
    let rejected = report["rejected"].as_array().map_or(0, Vec::len);
    assert_eq!(
        code,
        Some(if rejected == 0 { 0 } else { 2 }),
        "exit code with {rejected} rows rejected: {err}"
    );
    report
}

pub(crate) fn count(report: &Value, kind: &str, what: &str) -> u64 {
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
    // The file's own line numbers (as `grep -n` shows them): one more than
    // the newlines before each edited record.
    let text = std::fs::read(dst).unwrap();
    let mut lines = Vec::new();
    let mut reader = csv::Reader::from_path(dst).unwrap();
    for (i, record) in reader.records().enumerate() {
        if edits.iter().any(|(index, ..)| *index == i) {
            let byte = usize::try_from(record.unwrap().position().unwrap().byte()).unwrap();
            lines.push(text[..byte].iter().filter(|b| **b == b'\n').count() as u64 + 1);
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
/// - organizations: the 17 rows of organizations.csv less `unknown`, a
///   placeholder for missing data (reported) = 16; and 14 of providers.csv
///   (`market::llm_stats_offers_...` says which) = 30;
/// - models: 37 model lines by the rule of `fwatch`'s `import::lines` (25
///   by the leading letters of the model ids before it, `llama` joining
///   Meta's and NVIDIA's releases);
/// - releases: the 164 rows of models.csv;
/// - benchmarks: 339 rows, less 2 that are the same benchmark under a second
///   spelling (`humaneval+`/`humaneval-plus`, `mbpp+`/`mbpp-plus`) = 337;
///   those 2 are reported as merged (their spelling an alias), not
///   rejected;
/// - results: 2,192 rows, less 12 on benchmark ids absent from
///   benchmarks.csv (four translation ids for each of the three Nova
///   models) = 2,180; the 8 rows that repeat a (model, benchmark) pair do
///   so with another score, and are results of their own.
const LLM_STATS: &[(&str, u64, u64)] = &[
    ("organizations", 30, 1),
    ("models", 37, 0),
    ("releases", 164, 0),
    ("benchmarks", 337, 0),
    ("results", 2180, 12),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_stats_imports_completely_once() {
    let server = TestServer::start().await;
    let dir = data("llm_stats");
    let first = import(&server, &["llm-stats", dir.to_str().unwrap()]);
    assert_counts(&first, LLM_STATS);
    let merged_benchmarks: Vec<&str> = first["merged"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "benchmarks")
        .filter_map(|m| m["into"].as_str())
        .collect();
    assert_eq!(
        merged_benchmarks.len(),
        2,
        "the second spellings are merged, not rejected: {first:#}"
    );
    assert_eq!(stored(&server, "benchmark_result").await, 2180);
    assert_eq!(
        stored(&server, "organization").await,
        30,
        "no \"Unknown\" organization"
    );
    // A pair repeated with two scores: both results, each with its source.
    let pool = server.pool().await;
    let (repeats,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM resources WHERE kind = 'benchmark_result' \
          AND release LIKE '%/releases/o3-2025-04-16' \
          AND benchmark LIKE 'benchmarks/humanity%last-exam'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(repeats, 3, "o3's three Humanity's Last Exam scores");
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
        12 + 3,
        "exactly the faulty rows besides the known ones"
    );
    assert_eq!(count(&report, "results", "created"), 2180 - 3);
    let _ = std::fs::remove_dir_all(copy);
}

/// Epoch AI, from its one file of 976 rows:
/// - organizations: 362, the distinct spellings of the Organization field
///   (split on commas) once "DeepMind" is Google DeepMind and the other known
///   aliases are folded;
/// - releases: 976 rows less 18 that name no organization = 958; models:
///   793 model lines by the rule of `fwatch`'s `import::lines` (650 by the
///   leading letters of the release ids before it, 41 of them of one or
///   two letters);
/// - disclosures: 966, one per non-empty training hardware and per
///   non-empty training dataset, among the 958 releases.
const EPOCH: &[(&str, u64, u64)] = &[
    ("organizations", 362, 0),
    ("models", 793, 0),
    ("releases", 958, 18),
    ("disclosures", 966, 0),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epoch_imports_completely_once() {
    let server = TestServer::start().await;
    let file = data("epoch_models/notable_ai_models_accessed_2026-01-26.csv");
    let first = import(&server, &["epoch", file.to_str().unwrap()]);
    assert_counts(&first, EPOCH);
    assert_eq!(stored(&server, "release").await, 958);
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
    assert_eq!(lines.len(), 18 + 2);
    assert_eq!(count(&report, "releases", "created"), 958 - 2);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_rows_carry_the_files_own_line_numbers_with_crlf_line_ends_too() {
    let server = TestServer::start().await;
    let copy = temp_copy(&data("llm_stats"));
    // Saved as a spreadsheet on Windows would: CRLF line ends, and one
    // score that is no number, found again below the way `grep -n` would.
    for entry in std::fs::read_dir(&copy).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\r\n", "\n").replace('\n', "\r\n")).unwrap();
    }
    let file = copy.join("benchmark_results.csv");
    let text = std::fs::read_to_string(&file).unwrap();
    let target = text.lines().nth(500).unwrap().to_owned();
    let cells: Vec<&str> = target.split(',').collect();
    let marked = format!(
        "{},{},{},not-a-score,{}",
        cells[0],
        cells[1],
        cells[2],
        cells[4..].join(",")
    );
    std::fs::write(&file, text.replacen(&target, &marked, 1)).unwrap();
    let expected = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .position(|l| l.contains("not-a-score"))
        .unwrap() as u64
        + 1;
    let report = import(&server, &["llm-stats", copy.to_str().unwrap()]);
    let reported: Vec<u64> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("not-a-score")
        })
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(reported, vec![expected]);
    // The known rejections are on the same lines as in the LF original.
    let original = import(&server, &["llm-stats", data("llm_stats").to_str().unwrap()]);
    let lines = |r: &Value| {
        let mut l: Vec<(String, u64)> = r["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| {
                !x["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("not-a-score")
            })
            .map(|x| {
                (
                    x["file"].as_str().unwrap().to_owned(),
                    x["line"].as_u64().unwrap(),
                )
            })
            .collect();
        l.sort();
        l
    };
    assert_eq!(lines(&report), lines(&original));
    let _ = std::fs::remove_dir_all(copy);
}

/// Scores always on the stored benchmark's scale, following the README in
/// its own order: the grpcurl session creates SWE-bench Verified as a
/// percentage benchmark, then `fwatch import llm-stats` brings LLM-Stats'
/// results, whose benchmarks.csv states fractions (`max_score` 1). Every
/// result of every benchmark lies on its benchmark's scale, and LLM-Stats'
/// SWE-bench Verified results are converted (0.749 → 74.9), their raw value
/// kept as the file wrote it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_scores_land_on_the_stored_benchmarks_scale() {
    let server = TestServer::start().await;
    let mut c = server.client().await;
    c.create_benchmark(CreateBenchmarkRequest {
        benchmark_id: "swe-bench-verified".into(),
        benchmark: Some(Benchmark {
            display_name: "SWE-bench Verified".into(),
            metric: "resolved rate".into(),
            direction: ScoreDirection::HigherIsBetter as i32,
            scale: ScoreScale::Percent as i32,
            category: "coding".into(),
            ..Default::default()
        }),
        request_id: String::new(),
    })
    .await
    .expect("the README's benchmark");
    let dir = data("llm_stats");
    let (_, out, _) = run_fwatch_status(
        &server,
        &["-o", "json", "import", "llm-stats", dir.to_str().unwrap()],
        None,
    );
    let report: Value = serde_json::from_str(&out).expect("a JSON report");
    assert!(report["counts"]["results"]["created"].as_u64().unwrap_or(0) > 2000);

    let pool = server.pool().await;
    let scales: std::collections::HashMap<String, i32> = sqlx::query_as::<_, (String, Vec<u8>)>(
        "SELECT name, data FROM resources WHERE kind = 'benchmark'",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(name, data)| {
        let b = <Benchmark as prost::Message>::decode(data.as_slice()).expect("a benchmark");
        (name, b.scale)
    })
    .collect();
    let results: Vec<BenchmarkResult> = sqlx::query_as::<_, (Vec<u8>,)>(
        "SELECT data FROM resources WHERE kind = 'benchmark_result'",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(data,)| <BenchmarkResult as prost::Message>::decode(data.as_slice()).unwrap())
    .collect();
    assert!(results.len() > 2000, "the results were imported");
    let mut off_scale = Vec::new();
    for r in &results {
        let bounds = match ScoreScale::try_from(scales[&r.benchmark]) {
            Ok(ScoreScale::Fraction) => Some((0.0, 1.0)),
            Ok(ScoreScale::Percent) => Some((0.0, 100.0)),
            _ => None,
        };
        if let Some((lo, hi)) = bounds
            && !(lo..=hi).contains(&r.score)
        {
            off_scale.push(format!("{} on {}: {}", r.release, r.benchmark, r.score));
        }
    }
    assert!(
        off_scale.is_empty(),
        "results off their benchmark's scale: {off_scale:#?}"
    );
    let swe: Vec<&BenchmarkResult> = results
        .iter()
        .filter(|r| r.benchmark == "benchmarks/swe-bench-verified")
        .collect();
    assert!(
        swe.len() >= 30,
        "LLM-Stats' SWE-bench Verified results are imported: {}",
        swe.len()
    );
    for r in &swe {
        let raw: f64 = r.raw_value.parse().expect("the file's number, kept");
        assert!(
            raw <= 1.0,
            "the raw value is the file's fraction: {}",
            r.raw_value
        );
        assert!(
            (r.score - raw * 100.0).abs() < 1e-9 && r.score > 1.0,
            "{} converted to a percentage: {}",
            r.raw_value,
            r.score
        );
    }
}

/// `fwatch import --plan` prints the model lines an import would derive,
/// each with its developers and releases, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_plan_lists_the_derived_model_lines_and_writes_nothing() {
    let server = TestServer::start().await;
    let file = data("epoch_models/notable_ai_models_accessed_2026-01-26.csv");
    let (code, out, err) = run_fwatch_status(
        &server,
        &[
            "-o",
            "json",
            "import",
            "--plan",
            "epoch",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, Some(0), "{err}");
    let plan: Value = serde_json::from_str(&out).expect("a JSON plan");
    let lines = plan["modelLines"].as_array().expect("model lines");
    assert!(!lines.is_empty());
    let releases: usize = lines
        .iter()
        .map(|l| l["releases"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        releases as u64,
        count_rows(&plan, "releases"),
        "every planned release is listed under its line"
    );
    assert!(
        lines
            .iter()
            .all(|l| !l["developers"].as_array().unwrap().is_empty()),
        "each line names its developers"
    );
    for kind in ["organization", "model", "release", "disclosure"] {
        assert_eq!(
            stored(&server, kind).await,
            0,
            "nothing was written ({kind})"
        );
    }
    let (code, table, _) = run_fwatch_status(
        &server,
        &["import", "--plan", "epoch", file.to_str().unwrap()],
        None,
    );
    assert_eq!(code, Some(0));
    assert!(table.starts_with("MODEL LINE"), "{table}");
    assert!(table.contains("plan only: nothing was written"));
}

fn count_rows(plan: &Value, kind: &str) -> u64 {
    plan["rows"][kind].as_u64().unwrap_or(0)
}

/// The plan of an import of `args` (`fwatch -o json import --plan ...`).
fn plan_of(server: &TestServer, args: &[&str]) -> Value {
    let mut full = vec!["-o", "json", "import", "--plan"];
    full.extend_from_slice(args);
    let (code, out, err) = run_fwatch_status(server, &full, None);
    assert_eq!(code, Some(0), "{err}");
    serde_json::from_str(&out).expect("a JSON plan")
}

/// A name as compared: lower-case letters and digits only.
fn folded(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Organizations that are part of another (the importers' stated list).
const PART_OF: &[(&str, &str)] = &[
    ("organizations/google-deepmind", "organizations/google"),
    ("organizations/google-brain", "organizations/google"),
    ("organizations/google-research", "organizations/google"),
    ("organizations/deepmind", "organizations/google"),
];

/// The organization `organization` is part of, or itself.
fn house(organization: &str) -> &str {
    PART_OF
        .iter()
        .find(|(part, _)| *part == organization)
        .map_or(organization, |(_, whole)| *whole)
}

/// Every derived line is developed by one organization (its developers
/// are that organization or parts of it), every release in it names that
/// organization or a part of it, so no line joins two developers'
/// releases; and the releases of a line share the start of their names,
/// so no line joins unrelated names. Returns the number of lines.
fn assert_lines_justified(plan: &Value, what: &str) -> usize {
    let lines = plan["modelLines"].as_array().expect("model lines");
    for line in lines {
        let name = line["name"].as_str().unwrap();
        let developers: Vec<&str> = line["developers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let houses: BTreeSet<&str> = developers.iter().map(|d| house(d)).collect();
        assert_eq!(
            houses.len(),
            1,
            "{what}: {name} is developed by one organization: {developers:?}"
        );
        let developer = houses.into_iter().next().unwrap();
        let releases = line["releases"].as_array().unwrap();
        for release in releases {
            let stated: Vec<&str> = release["developers"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .map(house)
                .collect();
            assert!(
                stated.contains(&developer),
                "{what}: {name}, developed by {developers:?}, holds {} by {stated:?}",
                release["name"]
            );
        }
        let names: Vec<String> = releases
            .iter()
            .map(|r| folded(r["displayName"].as_str().unwrap()))
            .collect();
        if let Some(first) = names.first() {
            let shared = names.iter().fold(first.len(), |n, other| {
                first
                    .bytes()
                    .zip(other.bytes())
                    .take(n)
                    .take_while(|(a, b)| a == b)
                    .count()
            });
            assert!(
                shared >= 2,
                "{what}: the releases of {name} share no name: {names:?}"
            );
        }
    }
    lines.len()
}

/// Issue 28: model lines are derived by a stated rule (`import::lines`),
/// on every dataset, alone and after the others were imported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_derived_model_line_joins_two_developers_or_unrelated_names() {
    let epoch = data("epoch_models/notable_ai_models_accessed_2026-01-26.csv");
    let epoch = epoch.to_str().unwrap();
    let llm_stats = data("llm_stats");
    let llm_stats = llm_stats.to_str().unwrap();
    let server = TestServer::start().await;
    let alone = assert_lines_justified(&plan_of(&server, &["epoch", epoch]), "Epoch alone");
    assert_eq!(alone, 793, "Epoch's lines (see EPOCH)");
    assert_lines_justified(
        &plan_of(&server, &["llm-stats", llm_stats]),
        "LLM-Stats alone",
    );
    import(&server, &["llm-stats", llm_stats]);
    let after = plan_of(&server, &["epoch", epoch]);
    assert_lines_justified(&after, "Epoch after LLM-Stats");
    import(&server, &["epoch", epoch]);
    assert_lines_justified(
        &plan_of(&server, &["llm-stats", llm_stats]),
        "LLM-Stats after Epoch",
    );
    let other = TestServer::start().await;
    import(&other, &["epoch", epoch]);
    assert_lines_justified(
        &plan_of(&other, &["llm-stats", llm_stats]),
        "LLM-Stats after Epoch only",
    );
    // A family word two developers use is two lines: NVIDIA's Llama
    // Nemotron releases are not in Meta's Llama.
    let plan = plan_of(&server, &["llm-stats", llm_stats]);
    let line = |name: &str| {
        plan["modelLines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in the plan"))
    };
    assert_eq!(line("models/llama")["developers"][0], "organizations/meta");
    assert_eq!(
        line("models/llama-nvidia")["developers"][0],
        "organizations/nvidia"
    );
}
