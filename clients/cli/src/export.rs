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
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use frontierwatch_client::proto::kinds::{KINDS, KindInfo};
use prost_reflect::DynamicMessage;
use serde_json::Value;

use crate::commands::{camel, list_request, walk_pages};
use crate::dynamic::{Channel, message, to_json};
use crate::kinds::by_arg;
use crate::table::Shape;
use crate::tabular::{Destination, FileFormat, TableWriter};

/// `fwatch export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The kinds to export (`organizations`, `results`, ...); every kind
    /// when none is named.
    pub kinds: Vec<String>,
    /// The file to write (replaced only once complete).
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// JSON Lines (one import item a line, any kinds), or a table of one
    /// kind as CSV or Parquet; by default the file's extension says, and
    /// JSON Lines when it does not.
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// Only resources matching these List filters (one kind), e.g.
    /// `-f benchmark=benchmarks/gpqa`.
    #[arg(short = 'f', long = "filter")]
    pub filters: Vec<String>,
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

/// A 128-bit digest of a name: two SipHash values of it, keyed apart.
fn digest(name: &str) -> u128 {
    use std::hash::{Hash as _, Hasher as _};
    let half = |key: u8| {
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        name.hash(&mut hasher);
        hasher.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// Writes one resource as an import item line.
fn write_item(out: &mut Destination, item_field: &str, item: &Value) -> anyhow::Result<()> {
    let out = out.writer();
    write!(out, "{{{}:", Value::String(item_field.to_owned()))?;
    serde_json::to_writer(&mut *out, item)?;
    out.write_all(b"}\n")?;
    Ok(())
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
    let format = match args.format {
        Some(format) => format,
        None => FileFormat::of_path(&args.to).unwrap_or(FileFormat::Jsonl),
    };
    if (format != FileFormat::Jsonl || !args.filters.is_empty()) && chosen.len() != 1 {
        bail!(
            "CSV, Parquet and filters need exactly one kind (got {})",
            chosen.len()
        );
    }
    let progress =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    let written = match format {
        FileFormat::Jsonl => jsonl(channel, &args, &chosen, &progress).await?,
        FileFormat::Csv | FileFormat::Parquet => {
            table(channel, &args, chosen[0], format, &progress).await?
        }
    };
    progress.finish_and_clear();
    eprintln!("exported {written} resources to {}", args.to.display());
    Ok(())
}

/// Every page of a kind's List (`commands::walk_pages`), each passed to
/// `each` while the next is fetched.
async fn pages(
    channel: &Channel,
    kind: &KindInfo,
    filters: &[String],
    each: impl FnMut(DynamicMessage) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let request = list_request(kind, filters, 1000)?;
    let method = format!("List{}", kind.plural);
    walk_pages(channel, &method, request, String::new(), true, each).await?;
    Ok(())
}

/// One kind as a table (`table`), a row a resource.
async fn table(
    channel: &Channel,
    args: &ExportArgs,
    kind: &KindInfo,
    format: FileFormat,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<u64> {
    let shape = Shape::of(&message(kind.full_name)?);
    let mut out = TableWriter::create(&args.to, format, shape.columns.clone())?;
    pages(channel, kind, &args.filters, |page| {
        if let Some(prost_reflect::Value::List(items)) =
            page.get_field_by_name(kind.plural_field).as_deref()
        {
            for item in items.iter().filter_map(prost_reflect::Value::as_message) {
                for row in shape.rows(item) {
                    out.write(row)?;
                }
            }
        }
        progress.set_message(format!("{} resources", out.rows));
        progress.tick();
        Ok(())
    })
    .await?;
    let written = out.rows;
    out.finish()?;
    Ok(written)
}

/// The kinds as import items, in an order that imports.
async fn jsonl(
    channel: &Channel,
    args: &ExportArgs,
    chosen: &[&'static KindInfo],
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<u64> {
    let order = import_order(chosen)?;
    let mut out = Destination::create(&args.to)?;
    let mut written: u64 = 0;
    for kind in order {
        let item_field = message("frontierwatch.v1.ImportItem")?
            .get_field_by_name(kind.field)
            .map(|f| f.json_name().to_owned())
            .with_context(|| format!("{} cannot be imported", kind.message))?;
        // The names written, as 128-bit hashes: a few bytes each, however
        // long the names (a false match is a 2^-128 chance).
        let mut emitted: HashSet<u128> = HashSet::new();
        // Resources waiting for one of their own kind, by the name awaited.
        let mut waiting: HashMap<String, Vec<Value>> = HashMap::new();
        pages(channel, kind, &args.filters, |page| {
            let mut page = to_json(&page);
            let items = match page
                .get_mut(camel(kind.plural_field).as_str())
                .map(Value::take)
            {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            for mut item in items {
                if let Some(map) = item.as_object_mut() {
                    for field in OUTPUT_ONLY {
                        map.remove(*field);
                    }
                }
                if let Some(missing) = own_kind_refs(kind, &item)
                    .into_iter()
                    .find(|r| !emitted.contains(&digest(r)))
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
                    write_item(&mut out, &item_field, &item)?;
                    written += 1;
                    for child in waiting.remove(&name).unwrap_or_default() {
                        match own_kind_refs(kind, &child)
                            .into_iter()
                            .find(|r| *r != name && !emitted.contains(&digest(r)))
                        {
                            Some(other) => waiting.entry(other).or_default().push(child),
                            None => ready.push(child),
                        }
                    }
                    emitted.insert(digest(&name));
                }
            }
            progress.set_message(format!("{written} resources"));
            progress.tick();
            Ok(())
        })
        .await?;
        // Resources naming one that is not there: written last, for the
        // import to report.
        for item in waiting.into_values().flatten() {
            write_item(&mut out, &item_field, &item)?;
            written += 1;
        }
    }
    out.finish()?;
    Ok(written)
}
