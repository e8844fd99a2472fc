//! `fwatch import`: adapters turn a dataset into resources keyed by name,
//! in dependency order; the runner sends them in batches to the server's
//! ImportResources (one transaction per batch) and reports what happened to
//! every row.
//!
//! Attribution: LLM-Stats (llm-stats.com, CC BY 4.0); Epoch AI, "Notable AI
//! Models" (epoch.ai, CC BY 4.0); Stanford CRFM, Foundation Model
//! Transparency Index (CC BY 4.0).

mod epoch;
mod fmti;
#[cfg(test)]
mod fuzz;
mod jsonl;
mod lines;
mod llm_stats;
mod llm_stats_offers;
mod pipeline;
mod releases;
mod report;
mod resolve;
mod rows;
mod scales;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use tokio::task::JoinSet;

use frontierwatch_client::Client;
use frontierwatch_client::proto::{
    ImportItem, ImportResourcesResponse, ImportResult, Provenance, Source as FactSource,
    SourceKind, import_item,
};

use crate::output::Format;
use crate::status::fail;
pub use resolve::Resolver;

/// What to import.
pub enum Source {
    LlmStats(PathBuf),
    Epoch(PathBuf),
    Fmti(PathBuf),
    Jsonl(PathBuf),
}

/// One resource to import and where it came from.
pub struct Row {
    pub file: String,
    pub line: u64,
    pub resource: import_item::Resource,
}

/// A source row that was not imported, and why. Ordered by its fields in
/// turn, as declared: file, line, kind, name, reason.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rejection {
    pub file: String,
    pub line: u64,
    pub kind: &'static str,
    pub name: String,
    pub reason: String,
}

/// Resources in dependency order, and the rows refused before sending.
#[derive(Default)]
pub struct Plan {
    /// The dataset the rows come from: the claimant of their claims, which
    /// the server merges with other sources' claims about the same
    /// resources. None: each row's own sources name its claim.
    pub source: Option<FactSource>,
    pub rows: Vec<Row>,
    pub rejected: Vec<Rejection>,
    /// Releases recognised as stored ones under another name.
    pub merged: Vec<Merge>,
    /// The developers the source names for each planned release, lead
    /// first, by the release's name (for the review `--plan` prints).
    pub stated: BTreeMap<String, Vec<String>>,
    /// The model lines derived by the rule of `lines` (not stated by the
    /// source), by name.
    pub derived: std::collections::BTreeSet<String>,
    /// The developers of the model lines stored before the import.
    pub stored_lines: std::collections::HashMap<String, Vec<String>>,
}

/// A row of the source recognised as a resource imported under another
/// name (a release already stored, a benchmark the same file spells twice):
/// imported into it, with the row's spellings as aliases. Merged rows are
/// not rejected ones: they count apart and do not change the exit code.
#[derive(Debug, Clone)]
pub struct Merge {
    pub file: String,
    pub line: u64,
    /// The CLI's name of its kind (`releases`, `benchmarks`).
    pub kind: &'static str,
    /// The name the source gives it.
    pub name: String,
    /// The resource it is.
    pub into: String,
    /// How it was recognised.
    pub why: String,
}

impl Plan {
    pub fn push(&mut self, file: &str, line: u64, resource: import_item::Resource) {
        self.rows.push(Row {
            file: file.to_owned(),
            line,
            resource,
        });
    }

    pub fn reject(
        &mut self,
        file: &str,
        line: u64,
        kind: &'static str,
        name: &str,
        reason: impl Into<String>,
    ) {
        self.rejected.push(Rejection {
            file: file.to_owned(),
            line,
            kind,
            name: name.to_owned(),
            reason: reason.into(),
        });
    }
}

/// The label of a resource type in reports: the CLI's name of its kind
/// (`results` for benchmark results).
pub fn kind_of(resource: &import_item::Resource) -> &'static str {
    use frontierwatch_client::proto::ResourceType as T;
    // Exhaustive, so a new variant of the import oneof cannot be missed.
    let resource_type = match resource {
        import_item::Resource::Organization(_) => T::Organization,
        import_item::Resource::Model(_) => T::Model,
        import_item::Resource::Release(_) => T::Release,
        import_item::Resource::Benchmark(_) => T::Benchmark,
        import_item::Resource::BenchmarkResult(_) => T::BenchmarkResult,
        import_item::Resource::Disclosure(_) => T::Disclosure,
        import_item::Resource::Indicator(_) => T::Indicator,
        import_item::Resource::Commitment(_) => T::Commitment,
        import_item::Resource::TransparencyIndex(_) => T::TransparencyIndex,
        import_item::Resource::Offering(_) => T::Offering,
        import_item::Resource::Measurement(_) => T::Measurement,
    };
    crate::kinds::label(resource_type)
}

/// The name of a planned resource.
pub fn name_of(resource: &import_item::Resource) -> String {
    match resource {
        import_item::Resource::Organization(r) => r.name.clone(),
        import_item::Resource::Model(r) => r.name.clone(),
        import_item::Resource::Release(r) => r.name.clone(),
        import_item::Resource::Benchmark(r) => r.name.clone(),
        import_item::Resource::BenchmarkResult(r) => r.name.clone(),
        import_item::Resource::Disclosure(r) => r.name.clone(),
        import_item::Resource::Indicator(r) => r.name.clone(),
        import_item::Resource::Commitment(r) => r.name.clone(),
        import_item::Resource::TransparencyIndex(r) => r.name.clone(),
        import_item::Resource::Offering(r) => r.name.clone(),
        import_item::Resource::Measurement(r) => r.name.clone(),
    }
}

/// Every item of a List, a page of 1000 at a time: `call` makes the List
/// call for a page token (retried like every idempotent call), `items`
/// takes a response apart into its items and the next page token.
pub async fn every_page<R, T, F, Fut>(
    client: &Client,
    call: F,
    items: impl Fn(R) -> (Vec<T>, String),
) -> anyhow::Result<Vec<T>>
where
    F: Fn(frontierwatch_client::RawClient, String) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<R>, tonic::Status>>,
{
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .idempotent(|raw| call(raw, token.clone()))
            .await
            .map_err(fail)?;
        let (mut got, next) = items(page);
        all.append(&mut got);
        if next.is_empty() {
            return Ok(all);
        }
        token = next;
    }
}

/// A source entry for a dataset row.
pub fn dataset_source(uri: String, publisher: &str) -> FactSource {
    FactSource {
        uri,
        publisher: publisher.to_owned(),
        kind: SourceKind::Dataset as i32,
        publish_time: None,
        retrieve_time: None,
    }
}

/// Provenance from sources, most authoritative first, without repeats.
pub fn provenance(sources: Vec<FactSource>) -> Option<Provenance> {
    let mut unique: Vec<FactSource> = Vec::new();
    for s in sources {
        if (s.uri.starts_with("http://") || s.uri.starts_with("https://"))
            && !unique.iter().any(|u| u.uri == s.uri)
        {
            unique.push(s);
        }
    }
    Some(Provenance { sources: unique })
}

/// A stable 64-bit FNV-1a hash (the `fnv` crate's), for ids derived from
/// several fields: stored ids depend on it, so it must never change.
pub fn fnv(text: &str) -> String {
    use std::hash::Hasher as _;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(text.as_bytes());
    format!("{:016x}", hasher.finish())
}

/// Counts per resource type: created, unchanged, updated, rejected.
pub type Counts = BTreeMap<&'static str, [u64; 4]>;

/// An import that ran, with rows rejected: the report is printed, and the
/// command exits with [`RowsRejected::exit_code`] so that scripts can tell.
#[derive(Debug, thiserror::Error)]
#[error("{rejected} of {total} rows were rejected (listed above)")]
pub struct RowsRejected {
    pub rejected: u64,
    pub total: u64,
}

impl RowsRejected {
    /// 2 when some rows were rejected and the rest imported; 3 when every
    /// row was rejected. (1 is any other failure.)
    pub fn exit_code(&self) -> u8 {
        if self.rejected >= self.total { 3 } else { 2 }
    }
}

/// The plan of an import, as the server would receive it: every source's
/// rows, on the stored benchmarks' scales, its releases resolved to stored
/// ones where they are the same.
async fn planned(client: &Client, source: &Source) -> anyhow::Result<Plan> {
    let mut resolver = Resolver::load(client).await?;
    let mut plan = match source {
        Source::LlmStats(dir) => llm_stats::plan(dir, &mut resolver)?,
        Source::Epoch(file) => epoch::plan(file, &mut resolver)?,
        Source::Fmti(dir) => fmti::plan(dir, &mut resolver)?,
        Source::Jsonl(file) => {
            let mut plan = jsonl::plan(file)?;
            jsonl::normalize_scores(client, &mut plan).await?;
            plan
        }
    };
    plan.stored_lines = std::mem::take(&mut resolver.lines);
    // Every result on the stored benchmark's scale, whatever the source's.
    scales::align(client, &mut plan).await?;
    releases::Releases::load(client).await?.resolve(&mut plan);
    lines::drop_empty(&mut plan);
    Ok(plan)
}

/// `fwatch import --plan`: prints what an import would do, writing
/// nothing, so that a person can review the grouping first.
pub async fn plan_only(client: &Client, format: Format, source: Source) -> anyhow::Result<()> {
    report::plan(format, &planned(client, &source).await?);
    Ok(())
}

/// A batch sent: its size and the server's answer.
struct Sent {
    rows: usize,
    response: Result<ImportResourcesResponse, tonic::Status>,
}

pub async fn run(
    client: &Client,
    format: Format,
    source: Source,
    batch_size: usize,
    in_flight: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let plan = planned(client, &source).await?;
    let mut counts: Counts = BTreeMap::new();
    let mut rejected = plan.rejected.clone();
    for r in &plan.rejected {
        counts.entry(r.kind).or_default()[3] += 1;
    }
    let progress = indicatif::ProgressBar::with_draw_target(
        Some(plan.rows.len() as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    // Up to `in_flight` batches at once, each after the ones in flight that
    // it depends on (`pipeline`); outcomes are counted as they come.
    let mut running: JoinSet<Sent> = JoinSet::new();
    let mut touching: HashMap<tokio::task::Id, pipeline::Touches> = HashMap::new();
    let mut tally = |sent: Sent| -> anyhow::Result<()> {
        let response = sent.response.map_err(fail)?;
        for outcome in response.outcomes {
            let Some(row) = usize::try_from(outcome.line)
                .ok()
                .and_then(|i| plan.rows.get(i))
            else {
                continue;
            };
            let kind = kind_of(&row.resource);
            let slot = match ImportResult::try_from(outcome.result) {
                Ok(ImportResult::Created) => 0,
                Ok(ImportResult::Unchanged) => 1,
                Ok(ImportResult::Updated) => 2,
                _ => {
                    rejected.push(Rejection {
                        file: row.file.clone(),
                        line: row.line,
                        kind,
                        name: outcome.name.clone(),
                        reason: outcome.reason.clone(),
                    });
                    3
                }
            };
            counts.entry(kind).or_default()[slot] += 1;
        }
        progress.inc(sent.rows as u64);
        Ok(())
    };
    for (batch_index, chunk) in plan.rows.chunks(batch_size).enumerate() {
        let offset = batch_index * batch_size;
        let touches = pipeline::Touches::of(chunk.iter().map(|row| &row.resource));
        while running.len() >= in_flight || touching.values().any(|other| touches.conflicts(other))
        {
            let Some(done) = running.join_next_with_id().await else {
                break;
            };
            let (id, sent) = done?;
            touching.remove(&id);
            tally(sent)?;
        }
        let items: Vec<ImportItem> = chunk
            .iter()
            .enumerate()
            .map(|(i, row)| ImportItem {
                line: (offset + i) as i64,
                resource: Some(row.resource.clone()),
            })
            .collect();
        let (client, source, rows) = (client.clone(), plan.source.clone(), chunk.len());
        let handle = running.spawn(async move {
            Sent {
                rows,
                response: client.import_resources(items, source).await,
            }
        });
        touching.insert(handle.id(), touches);
    }
    while let Some(done) = running.join_next().await {
        tally(done?)?;
    }
    progress.finish_and_clear();
    // In full, so that the order does not depend on which batch came back
    // first (one line of a file can make several resources).
    rejected.sort();
    report::outcome(
        format,
        &counts,
        &plan.merged,
        &rejected,
        started.elapsed().as_secs_f64(),
    );
    if rejected.is_empty() {
        return Ok(());
    }
    let total = counts.values().map(|c| c.iter().sum::<u64>()).sum();
    Err(RowsRejected {
        rejected: rejected.len() as u64,
        total,
    }
    .into())
}

#[cfg(test)]
mod tests {
    /// Stored ids are derived with it: the published FNV-1a 64 test
    /// vectors pin it.
    #[test]
    fn fnv_is_fnv_1a_64() {
        assert_eq!(super::fnv(""), "cbf29ce484222325");
        assert_eq!(super::fnv("a"), "af63dc4c8601ec8c");
        assert_eq!(super::fnv("foobar"), "85944171f73967e8");
    }
}
