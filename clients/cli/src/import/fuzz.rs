//! Fuzzing each dataset adapter's row parser: copies of the real public
//! datasets with random cells replaced by hostile values (empty, huge,
//! negative, NaN, impossible dates, NULs, quotes, other scripts). Every
//! copy must plan without a panic, and every planned resource must carry a
//! well-formed name: what cannot be parsed is reported, not sent.

use std::path::{Path, PathBuf};

use frontierwatch_client::proto::kinds::KindInfo;

use super::resolve::Resolver;
use super::{Plan, epoch, fmti, llm_stats};

const HOSTILE: &[&str] = &[
    "",
    " ",
    "-1",
    "0",
    "NaN",
    "inf",
    "-inf",
    "1e309",
    "-0.0",
    "99999999999999999999999",
    "2025-02-30",
    "0000-00-00",
    "9999-12-31",
    "-2025-01-01",
    "2025-13-01",
    "2025",
    "2025-07",
    "\u{0}",
    "\"",
    "'; DROP TABLE resources; --",
    "ümlaut ✓ 漢字 🚀",
    "%",
    "53.1%",
    "150%",
    "true",
    "[1,2",
    "https://",
    "organizations/x",
];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// Copies `file` with `cells` random cells replaced.
fn mutate_csv(file: &Path, to: &Path, rng: &mut fastrand::Rng, cells: usize) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(file)
        .expect("the dataset reads");
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("a record").iter().map(str::to_owned).collect())
        .collect();
    for _ in 0..cells {
        let row = 1 + rng.usize(..rows.len() - 1);
        let width = rows[row].len();
        if width == 0 {
            continue;
        }
        let cell = rng.usize(..width);
        rows[row][cell] = match rng.usize(..4) {
            0 => "x".repeat(70_000),
            _ => HOSTILE[rng.usize(..HOSTILE.len())].to_owned(),
        };
    }
    let mut writer = csv::Writer::from_path(to).expect("the copy writes");
    for row in rows {
        writer.write_record(row).expect("a row writes");
    }
    writer.flush().expect("flushed");
}

fn check(plan: &Plan) -> usize {
    for row in &plan.rows {
        let name = super::name_of(&row.resource);
        assert!(
            name.is_empty() || KindInfo::of_name(&name).is_some(),
            "planned a malformed name {name:?} from {}:{}",
            row.file,
            row.line
        );
    }
    plan.rows.len() + plan.rejected.len()
}

/// Mutated copies of a dataset directory (every CSV in it), `rounds` times.
fn fuzz_dir(dataset: &str, rounds: usize, cells: usize, plan: impl Fn(&Path) -> Plan) -> usize {
    let source = data_dir().join(dataset);
    let mut rng = fastrand::Rng::with_seed(0x5eed ^ dataset.len() as u64);
    let mut rows = 0;
    for round in 0..rounds {
        let copy = std::env::temp_dir().join(format!(
            "fwatch-fuzz-{}-{dataset}-{round}",
            std::process::id()
        ));
        std::fs::create_dir_all(&copy).expect("temp dir");
        for entry in std::fs::read_dir(&source).expect("the dataset is there") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "csv") {
                let to = copy.join(path.file_name().expect("a file name"));
                mutate_csv(&path, &to, &mut rng, cells);
            }
        }
        rows += check(&plan(&copy));
        let _ = std::fs::remove_dir_all(&copy);
    }
    rows
}

#[test]
fn mutated_copies_of_every_dataset_plan_without_a_panic_and_only_well_formed_names() {
    let mut rows = 0;
    rows += fuzz_dir("llm_stats", 12, 400, |dir| {
        llm_stats::plan(dir, &mut Resolver::default()).unwrap_or_default()
    });
    rows += fuzz_dir("fmti", 12, 400, |dir| {
        fmti::plan(dir, &mut Resolver::default()).unwrap_or_default()
    });
    rows += fuzz_dir("epoch_models", 6, 800, |dir| {
        let file = dir.join("notable_ai_models_accessed_2026-01-26.csv");
        epoch::plan(&file, &mut Resolver::default()).unwrap_or_default()
    });
    assert!(rows > 10_000, "{rows} rows planned or reported");
}
