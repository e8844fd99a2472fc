//! `fwatch export`: stored resources to JSON Lines (the generic import
//! format: `fwatch import jsonl` of the file into an empty server
//! reproduces them) or CSV, read a List page at a time and written as
//! they come, to a temporary file renamed over the destination only when
//! complete.
//!
//! Every kind, or the kinds named, in an order that imports: a kind after
//! the kinds its fields name (`release`, `offering`, `transparency_index`,
//! ... by the registry's field names), and within a kind a resource after
//! the one of its own kind it names (an organization's `parent`, a
//! release's `base_release`). A resource waiting for one read later is the
//! only thing held in memory.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use frontierwatch_client::proto::kinds::{KINDS, KindInfo};
use serde_json::{Value, json};

use crate::commands::{call, camel, list_request};
use crate::dynamic::{Channel, message, to_json};
use crate::kinds::by_arg;

/// `fwatch export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The kinds to export (`organizations`, `results`, ...); every kind
    /// when none is named.
    pub kinds: Vec<String>,
    /// The file to write (replaced only once complete).
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// JSON Lines (one import item a line) or CSV (one kind).
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,
    /// Only resources matching these List filters (one kind), e.g.
    /// `-f benchmark=benchmarks/gpqa`.
    #[arg(short = 'f', long = "filter")]
    pub filters: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

/// The fields no import sets: the server writes them.
const OUTPUT_ONLY: &[&str] = &["createTime", "updateTime", "etag", "conflicts"];

/// The kinds in an order that imports: each after the kinds its fields
/// name, otherwise in the registry's order.
fn import_order(kinds: &[&'static KindInfo]) -> anyhow::Result<Vec<&'static KindInfo>> {
    let mut needs: HashMap<&str, Vec<&str>> = HashMap::new();
    for kind in kinds {
        let descriptor = message(kind.full_name)?;
        let named: Vec<&str> = descriptor
            .fields()
            .filter_map(|f| {
                KINDS
                    .iter()
                    .find(|k| k.field == f.name() && k.field != kind.field)
            })
            .map(|k| k.field)
            .chain(kind.parent.and_then(KindInfo::of).map(|k| k.field))
            .collect();
        needs.insert(kind.field, named);
    }
    let wanted: HashSet<&str> = kinds.iter().map(|k| k.field).collect();
    let mut done: Vec<&'static KindInfo> = Vec::new();
    while done.len() < kinds.len() {
        let next = kinds.iter().find(|k| {
            !done.iter().any(|d| d.field == k.field)
                && needs[k.field]
                    .iter()
                    .all(|n| !wanted.contains(n) || done.iter().any(|d| d.field == *n))
        });
        match next {
            Some(k) => done.push(k),
            None => bail!("the kinds name each other in a cycle"),
        }
    }
    Ok(done)
}

/// The names of its own kind a resource names (its parent, its base).
fn own_kind_refs(kind: &KindInfo, item: &Value) -> Vec<String> {
    let own = item.get("name").and_then(Value::as_str).unwrap_or_default();
    item.as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_str)
        .filter(|v| *v != own && KindInfo::of_name(v).is_some_and(|k| k.field == kind.field))
        .map(str::to_owned)
        .collect()
}

/// A destination written under a temporary name, renamed when complete.
struct Destination {
    temp: PathBuf,
    to: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl Destination {
    fn create(to: &Path) -> anyhow::Result<Self> {
        let name = to
            .file_name()
            .with_context(|| format!("{} names no file", to.display()))?;
        let temp = to.with_file_name(format!(
            ".{}.{}.partial",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = std::fs::File::create(&temp)
            .with_context(|| format!("cannot write {}", to.display()))?;
        Ok(Destination {
            temp,
            to: to.to_owned(),
            file: std::io::BufWriter::new(file),
        })
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        std::fs::rename(&self.temp, &self.to)
            .with_context(|| format!("cannot write {}", self.to.display()))?;
        Ok(())
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        // Unfinished: no partial file is left looking complete.
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// Writes one resource: a CSV row of `columns`, or an import item line.
fn write_item(
    out: &mut Destination,
    columns: Option<&[String]>,
    item_field: &str,
    item: &Value,
) -> anyhow::Result<()> {
    match columns {
        Some(columns) => {
            let row: Vec<String> = columns.iter().map(|c| csv_cell(item.get(c))).collect();
            out.file.write_all(&csv_line(&row)?)?;
        }
        None => {
            serde_json::to_writer(&mut out.file, &json!({ item_field: item }))?;
            out.file.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// One CSV record, quoted where it needs to be.
fn csv_line(record: &[String]) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(record)?;
    writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

fn csv_cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

pub async fn export(channel: &Channel, args: ExportArgs) -> anyhow::Result<()> {
    let chosen: Vec<&'static KindInfo> = if args.kinds.is_empty() {
        KINDS.iter().collect()
    } else {
        args.kinds
            .iter()
            .map(|k| by_arg(k))
            .collect::<anyhow::Result<_>>()?
    };
    if (args.format == ExportFormat::Csv || !args.filters.is_empty()) && chosen.len() != 1 {
        bail!(
            "CSV and filters need exactly one kind (got {})",
            chosen.len()
        );
    }
    let order = import_order(&chosen)?;
    let mut out = Destination::create(&args.to)?;
    let csv = args.format == ExportFormat::Csv;
    let mut columns: Vec<String> = Vec::new();
    if let (true, Some(kind)) = (csv, order.first()) {
        columns = message(kind.full_name)?
            .fields()
            .map(|f| f.json_name().to_owned())
            .filter(|n| !OUTPUT_ONLY.contains(&n.as_str()))
            .collect();
        out.file.write_all(&csv_line(&columns)?)?;
    }
    let progress =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    let mut written: u64 = 0;
    for kind in order {
        let item_field = message("frontierwatch.v1.ImportItem")?
            .get_field_by_name(kind.field)
            .map(|f| f.json_name().to_owned())
            .with_context(|| format!("{} cannot be imported", kind.message))?;
        let mut request = list_request(kind, &args.filters, 1000)?;
        let mut emitted: HashSet<String> = HashSet::new();
        // Resources waiting for one of their own kind, by the name awaited.
        let mut waiting: HashMap<String, Vec<Value>> = HashMap::new();
        let mut token = String::new();
        loop {
            request.insert("page_token".into(), json!(token));
            let page = to_json(
                &call(
                    channel,
                    &format!("List{}", kind.plural),
                    Value::Object(request.clone()),
                )
                .await?,
            );
            let items = page
                .get(camel(kind.plural_field).as_str())
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for mut item in items {
                if let Some(map) = item.as_object_mut() {
                    for field in OUTPUT_ONLY {
                        map.remove(*field);
                    }
                }
                if let Some(missing) = own_kind_refs(kind, &item)
                    .into_iter()
                    .find(|r| !emitted.contains(r))
                {
                    waiting.entry(missing).or_default().push(item);
                    continue;
                }
                let mut ready = vec![item];
                while let Some(item) = ready.pop() {
                    let name = item
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    write_item(
                        &mut out,
                        csv.then_some(columns.as_slice()),
                        &item_field,
                        &item,
                    )?;
                    written += 1;
                    progress.set_message(format!("{written} resources"));
                    progress.tick();
                    for child in waiting.remove(&name).unwrap_or_default() {
                        match own_kind_refs(kind, &child)
                            .into_iter()
                            .find(|r| *r != name && !emitted.contains(r))
                        {
                            Some(other) => waiting.entry(other).or_default().push(child),
                            None => ready.push(child),
                        }
                    }
                    emitted.insert(name);
                }
            }
            token = page
                .get("nextPageToken")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if token.is_empty() {
                break;
            }
        }
        // Resources naming one that is not there: written last, for the
        // import to report.
        for item in waiting.into_values().flatten() {
            write_item(
                &mut out,
                csv.then_some(columns.as_slice()),
                &item_field,
                &item,
            )?;
            written += 1;
        }
    }
    out.finish()?;
    progress.finish_and_clear();
    eprintln!("exported {written} resources to {}", args.to.display());
    Ok(())
}
