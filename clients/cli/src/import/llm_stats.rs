//! LLM-Stats (llm-stats.com open data, CC BY 4.0): organizations, model
//! lines and releases, benchmarks, and results with their self-reported flag
//! and source links.
//!
//! Rules, so that counts can be derived from the files:
//! - each row of organizations.csv is an organization, id as in the file;
//! - each row of models.csv is a release, developed by the row's
//!   organization; its model line is derived from its name by the rule of
//!   `import::lines` ("Claude 3.5 Sonnet" → `models/claude`);
//! - each row of benchmarks.csv is a benchmark; `max_score` 1 means a
//!   fraction, 100 a percentage, anything else an Elo-like rating; the
//!   spellings results use for it become its aliases;
//! - each row of benchmark_results.csv is a result, keyed by (model,
//!   benchmark); a later row for the same pair with another score is a
//!   result of its own (keyed by the score too), and the leaderboard picks
//!   between them by its rules; one with the same score is a duplicate and
//!   is reported; a result whose model or benchmark is not in the files is
//!   reported, not guessed; a percentage on a fraction benchmark is divided
//!   by 100;
//! - a release's access is open weights when its row links its weights
//!   (`source_weights_link`), an API only when its licence is
//!   `proprietary` and it links no weights, and not stated otherwise;
//! - the `unknown` organization, a placeholder for missing data, is
//!   reported, not imported as an organization named "Unknown".

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use frontierwatch_client::names::slug;
use frontierwatch_client::proto::{
    AccessKind, Benchmark, BenchmarkResult, Confidence, Estimate, EvaluatorRelation, Organization,
    Release, ScoreDirection, ScoreScale, Source, SourceKind, VariantKind, VerificationStatus,
    import_item::Resource,
};

use super::lines::{self, Found};
use super::rows::{base_first, day, get, parse_date, read_csv};
use super::{Plan, Resolver, dataset_source, fnv, provenance};

const COMMIT: &str = "76fa62855c0f4646aaa2f424f375d6ce37a9e928";

fn dataset(path: &str) -> Source {
    let uri = if path.is_empty() {
        format!("https://github.com/JonathanChavezTamales/llm-leaderboard/tree/{COMMIT}")
    } else {
        format!("https://github.com/JonathanChavezTamales/llm-leaderboard/blob/{COMMIT}/{path}")
    };
    dataset_source(uri, "LLM-Stats")
}

/// LLM-Stats' stand-in for a missing organization (`unknown`, "Unknown"):
/// importing it would make an organization of that name.
fn is_placeholder(id: &str, name: &str) -> bool {
    id.eq_ignore_ascii_case("unknown") || name.eq_ignore_ascii_case("unknown")
}

pub fn plan(dir: &Path, resolver: &mut Resolver) -> anyhow::Result<Plan> {
    let mut plan = Plan {
        source: Some(dataset("")),
        ..Plan::default()
    };
    let orgs_file = "organizations.csv";
    let mut org_names: HashMap<String, String> = HashMap::new();
    for (line, row) in read_csv(&dir.join(orgs_file))? {
        let id = get(&row, "organization_id");
        if is_placeholder(id, get(&row, "name")) {
            plan.reject(
                orgs_file,
                line,
                "organizations",
                id,
                "a placeholder for missing data, not an organization; rows that name it are reported",
            );
            continue;
        }
        let country = get(&row, "country");
        let extra = Organization {
            website: get(&row, "website").to_owned(),
            country: if country.len() == 2 {
                country.to_uppercase()
            } else {
                String::new()
            },
            ..Default::default()
        };
        match resolver.organization(
            &mut plan,
            orgs_file,
            line,
            get(&row, "name"),
            Some(id),
            extra,
        ) {
            Ok(name) => {
                org_names.insert(id.to_owned(), name);
            }
            Err(reason) => plan.reject(orgs_file, line, "organizations", id, reason),
        }
    }

    // Releases and their model lines.
    let licences = super::llm_stats_offers::licences(dir)?;
    let models_file = "models.csv";
    let models = read_csv(&dir.join(models_file))?;
    let mut bases: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut base_model: HashMap<String, String> = HashMap::new();
    // First the rows' releases, then their model lines (derived from every
    // row together), then the releases' names.
    let mut found: Vec<Found> = Vec::new();
    let mut pending: Vec<(u64, &str, &str, Release)> = Vec::new();
    for (line, row) in &models {
        let model_id = get(row, "model_id");
        let Some(release_id) = slug(model_id) else {
            plan.reject(models_file, *line, "releases", model_id, "no usable id");
            continue;
        };
        let Some(org) = org_names.get(get(row, "organization_id")) else {
            let org_id = get(row, "organization_id");
            let reason = if is_placeholder(org_id, "") {
                format!("its developer is unknown in the dataset (organization {org_id:?})")
            } else {
                format!("organization {org_id:?} is not in organizations.csv")
            };
            plan.reject(models_file, *line, "releases", model_id, reason);
            continue;
        };
        let display = get(row, "name");
        found.push(Found {
            release_id,
            display: display.to_owned(),
            developers: vec![org.clone()],
            row: *line,
        });
        let mut sources = Vec::new();
        for (column, kind) in [
            ("source_scorecard_blog_link", SourceKind::VendorAnnouncement),
            ("source_paper", SourceKind::Paper),
            ("source_api_ref", SourceKind::VendorAnnouncement),
            ("source_repo_link", SourceKind::VendorAnnouncement),
            ("source_weights_link", SourceKind::VendorAnnouncement),
        ] {
            let uri = get(row, column);
            if !uri.is_empty() {
                sources.push(Source {
                    uri: uri.to_owned(),
                    publisher: String::new(),
                    kind: kind as i32,
                    ..Default::default()
                });
            }
        }
        sources.push(dataset(get(row, "source_path")));
        let reported = |column: &str| {
            get(row, column)
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .map(|value| Estimate {
                    value,
                    confidence: Confidence::Confident as i32,
                    method: "reported (LLM-Stats)".to_owned(),
                    ..Default::default()
                })
        };
        let release = Release {
            display_name: display.to_owned(),
            release_date: day(get(row, "release_date")),
            announce_date: day(get(row, "announcement_date")),
            parameter_count: reported("param_count"),
            training_tokens: reported("training_tokens"),
            knowledge_cutoff: day(get(row, "knowledge_cutoff")),
            licence: super::llm_stats_offers::licence_of(row, &licences),
            access: access(row),
            provenance: provenance(sources),
            ..Default::default()
        };
        pending.push((
            *line,
            model_id,
            get(row, "fine_tuned_from_model_id"),
            release,
        ));
    }
    let derived = lines::derive(&found, &resolver.lines);
    let mut releases: HashMap<String, (u64, Release)> = HashMap::new();
    let mut release_of_model: HashMap<String, String> = HashMap::new();
    for (((line, model_id, base, mut release), f), line_name) in
        pending.into_iter().zip(&found).zip(&derived.line_of)
    {
        let name = format!("{line_name}/releases/{}", f.release_id);
        if releases.contains_key(&name) {
            plan.reject(models_file, line, "releases", &name, "duplicate release id");
            continue;
        }
        release.name = name.clone();
        plan.stated.insert(name.clone(), f.developers.clone());
        release_of_model.insert(model_id.to_owned(), name.clone());
        if !base.is_empty() {
            base_model.insert(name.clone(), base.to_owned());
        }
        bases.insert(name.clone(), None);
        releases.insert(name, (line, release));
    }
    for (release, base) in &base_model {
        if let Some(base_name) = release_of_model.get(base) {
            bases.insert(release.clone(), Some(base_name.clone()));
        }
    }
    for (line, model) in derived.models {
        plan.derived.insert(model.name.clone());
        plan.push(models_file, line, Resource::Model(model));
    }
    for name in base_first(&bases) {
        let Some((line, mut release)) = releases.remove(&name) else {
            continue;
        };
        if let Some(Some(base)) = bases.get(&name) {
            release.base_release = base.clone();
            release.variant_kind = VariantKind::FineTune as i32;
        }
        plan.push(models_file, line, Resource::Release(release));
    }

    // Benchmarks, with the spellings results use as aliases.
    let results_file = "benchmark_results.csv";
    let results = read_csv(&dir.join(results_file))?;
    let mut spellings: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (_, row) in &results {
        spellings
            .entry(get(row, "benchmark_id").to_owned())
            .or_default()
            .insert(get(row, "benchmark_name").to_owned());
    }
    let benchmarks_file = "benchmarks.csv";
    let mut scales: HashMap<String, (String, ScoreScale)> = HashMap::new();
    let mut benchmark_lines: HashMap<String, (u64, usize)> = HashMap::new();
    let mut benchmarks: Vec<(u64, Benchmark)> = Vec::new();
    for (line, row) in read_csv(&dir.join(benchmarks_file))? {
        let benchmark_id = get(&row, "benchmark_id");
        let Some(id) = slug(benchmark_id) else {
            plan.reject(
                benchmarks_file,
                line,
                "benchmarks",
                benchmark_id,
                "no usable id",
            );
            continue;
        };
        let display = get(&row, "name").to_owned();
        let scale = match get(&row, "max_score").parse::<f64>() {
            Ok(m) if (m - 1.0).abs() < f64::EPSILON => ScoreScale::Fraction,
            Ok(m) if (m - 100.0).abs() < f64::EPSILON => ScoreScale::Percent,
            _ => ScoreScale::Elo,
        };
        let aliases: Vec<String> = spellings
            .get(benchmark_id)
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty() && **s != display)
            .cloned()
            .collect();
        let name = format!("benchmarks/{id}");
        if let Some(&(first, index)) = benchmark_lines.get(&name) {
            // The same benchmark under a second spelling (`humaneval+` and
            // `humaneval-plus`): one benchmark, with the other as an alias.
            plan.merged.push(super::Merge {
                file: benchmarks_file.to_owned(),
                line,
                kind: "benchmarks",
                name: benchmark_id.to_owned(),
                into: name.clone(),
                why: format!(
                    "the same benchmark as line {first}; imported there, with this spelling as an alias"
                ),
            });
            if let Some(first_scale) = scales.values().find(|(n, _)| *n == name).cloned() {
                scales.insert(benchmark_id.to_owned(), first_scale);
            }
            let merged: &mut Benchmark = &mut benchmarks[index].1;
            for alias in std::iter::once(display).chain(aliases) {
                if alias != merged.display_name && !merged.aliases.contains(&alias) {
                    merged.aliases.push(alias);
                }
            }
            merged.aliases.sort();
            continue;
        }
        benchmark_lines.insert(name.clone(), (line, benchmarks.len()));
        scales.insert(benchmark_id.to_owned(), (name.clone(), scale));
        benchmarks.push((
            line,
            Benchmark {
                name,
                display_name: display,
                aliases,
                metric: String::new(),
                direction: ScoreDirection::HigherIsBetter as i32,
                scale: scale as i32,
                category: get(&row, "category").to_owned(),
                description: get(&row, "description").to_owned(),
                ..Default::default()
            },
        ));
    }
    for (line, benchmark) in benchmarks {
        plan.push(benchmarks_file, line, Resource::Benchmark(benchmark));
    }

    // Results.
    let developer_of: HashMap<&str, &str> = models
        .iter()
        .map(|(_, r)| (get(r, "model_id"), get(r, "organization_id")))
        .collect();
    // (model, benchmark) → the scores seen, with their lines.
    let mut seen: HashMap<(String, String), Vec<(String, u64)>> = HashMap::new();
    for (line, row) in &results {
        let model_id = get(row, "model_id");
        let benchmark_id = get(row, "benchmark_id");
        let key = (model_id.to_owned(), benchmark_id.to_owned());
        let label = format!("{model_id} on {benchmark_id}");
        let raw_score = get(row, "score").to_owned();
        let earlier = seen.entry(key).or_default();
        if let Some((_, first)) = earlier.iter().find(|(score, _)| *score == raw_score) {
            plan.reject(
                results_file,
                *line,
                "results",
                &label,
                format!("duplicate of line {first} (same model, benchmark and score)"),
            );
            continue;
        }
        // The same pair with another score (with and without tools, say)
        // is a result of its own; the first keeps the pair's id.
        let id_key = if earlier.is_empty() {
            format!("{model_id}|{benchmark_id}")
        } else {
            format!("{model_id}|{benchmark_id}|{raw_score}")
        };
        earlier.push((raw_score, *line));
        let Some(release) = release_of_model.get(model_id) else {
            plan.reject(
                results_file,
                *line,
                "results",
                &label,
                format!("model {model_id:?} is not in models.csv"),
            );
            continue;
        };
        let Some((benchmark, scale)) = scales.get(benchmark_id) else {
            plan.reject(
                results_file,
                *line,
                "results",
                &label,
                format!("benchmark {benchmark_id:?} is not in benchmarks.csv"),
            );
            continue;
        };
        let raw = get(row, "score");
        let Ok(mut score) = raw.parse::<f64>() else {
            plan.reject(
                results_file,
                *line,
                "results",
                &label,
                format!("score {raw:?} is not a number"),
            );
            continue;
        };
        if *scale == ScoreScale::Fraction && score > 1.0 && score <= 100.0 {
            score /= 100.0;
        }
        let self_reported = get(row, "is_self_reported").eq_ignore_ascii_case("true");
        let verified = get(row, "verified_by_llmstats").eq_ignore_ascii_case("true");
        let verification = match (verified, self_reported) {
            (true, _) => VerificationStatus::IndependentlyReproduced,
            (false, true) => VerificationStatus::SelfReported,
            (false, false) => VerificationStatus::Unspecified,
        };
        let developer = developer_of
            .get(model_id)
            .and_then(|o| org_names.get(*o))
            .cloned()
            .unwrap_or_default();
        let release_row = models
            .iter()
            .find(|(_, r)| get(r, "model_id") == model_id)
            .map(|(_, r)| r);
        // A self-reported result is published with its release's announcement.
        let publish_date = if self_reported {
            release_row.and_then(|r| {
                parse_date(get(r, "announcement_date"))
                    .or_else(|| parse_date(get(r, "release_date")))
            })
        } else {
            None
        };
        let mut sources = Vec::new();
        let link = get(row, "self_reported_source_link");
        if !link.is_empty() {
            sources.push(Source {
                uri: link.to_owned(),
                kind: SourceKind::VendorAnnouncement as i32,
                ..Default::default()
            });
        }
        sources.push(dataset(get(row, "source_path")));
        let result = BenchmarkResult {
            name: format!("benchmarkResults/llmstats-{}", fnv(&id_key)),
            release: release.clone(),
            benchmark: benchmark.clone(),
            score,
            raw_value: raw.to_owned(),
            evaluator: if self_reported {
                developer
            } else {
                String::new()
            },
            evaluator_relation: if self_reported {
                EvaluatorRelation::FirstParty
            } else {
                EvaluatorRelation::ThirdParty
            } as i32,
            verification: verification as i32,
            publish_date,
            provenance: provenance(sources),
            ..Default::default()
        };
        plan.push(results_file, *line, Resource::BenchmarkResult(result));
    }
    super::llm_stats_offers::plan(
        dir,
        &mut plan,
        resolver,
        &org_names,
        &release_of_model,
        &dataset,
    )?;
    Ok(plan)
}

/// How a model can be used, as far as the row shows it: open weights when
/// it links its weights; an API only when its licence is `proprietary`
/// and it links none; otherwise not stated (a permissive licence without
/// a weights link says nothing of where the weights are).
fn access(row: &HashMap<String, String>) -> Vec<i32> {
    if !get(row, "source_weights_link").is_empty() {
        vec![AccessKind::OpenWeights as i32]
    } else if get(row, "license_id") == "proprietary" {
        vec![AccessKind::Api as i32]
    } else {
        Vec::new()
    }
}
