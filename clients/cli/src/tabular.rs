//! Writing tables (`table`) to files as CSV, JSON Lines or Parquet, under
//! a temporary name renamed over the destination only once complete: a
//! file that is there is whole.
//!
//! Parquet columns are typed: text as UTF-8 strings, integers as 64-bit,
//! doubles, booleans, dates as `DATE`, times as `TIMESTAMP` (microseconds,
//! UTC), lists as `LIST`s of their element; every column may be null.
//! Rows are written in row groups of [`GROUP`], so memory stays flat
//! whatever the size.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::ValueEnum;
use parquet::basic::{LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DataType, DoubleType, Int32Type, Int64Type,
};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::types::Type as Schema;

use crate::table::{Cell, Column, Type};

/// File formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    Jsonl,
    Csv,
    Parquet,
}

impl FileFormat {
    /// The format a file's extension names (`.jsonl`, `.csv`, `.parquet`).
    pub fn of_path(path: &Path) -> anyhow::Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Ok(FileFormat::Jsonl),
            "csv" => Ok(FileFormat::Csv),
            "parquet" | "pq" => Ok(FileFormat::Parquet),
            _ => bail!(
                "cannot tell the format of {}: name it .csv, .jsonl or .parquet, or give --format",
                path.display()
            ),
        }
    }
}

/// Rows per Parquet row group.
const GROUP: usize = 10_000;

/// A file written under a temporary name, renamed when complete.
pub struct Destination {
    temp: PathBuf,
    to: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl Destination {
    pub fn create(to: &Path) -> anyhow::Result<Self> {
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
            file: Some(std::io::BufWriter::with_capacity(1 << 16, file)),
        })
    }

    pub fn writer(&mut self) -> &mut std::io::BufWriter<std::fs::File> {
        self.file.as_mut().expect("an open destination")
    }

    fn finish_with(mut self, file: std::io::BufWriter<std::fs::File>) -> anyhow::Result<()> {
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&self.temp, &self.to)
            .with_context(|| format!("cannot write {}", self.to.display()))?;
        self.temp = PathBuf::new();
        Ok(())
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        let file = self.file.take().expect("an open destination");
        self.finish_with(file)
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        // Unfinished: no partial file is left looking complete.
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes rows of `columns` to a destination in one format.
pub struct TableWriter {
    columns: Vec<Column>,
    out: Out,
    pub rows: u64,
}

enum Out {
    Csv(
        Destination,
        Box<csv::Writer<std::io::BufWriter<std::fs::File>>>,
    ),
    Jsonl(Destination),
    Parquet(
        Destination,
        Box<SerializedFileWriter<std::io::BufWriter<std::fs::File>>>,
        Vec<Vec<Cell>>,
    ),
}

impl TableWriter {
    pub fn create(to: &Path, format: FileFormat, columns: Vec<Column>) -> anyhow::Result<Self> {
        let mut destination = Destination::create(to)?;
        let out = match format {
            FileFormat::Jsonl => Out::Jsonl(destination),
            FileFormat::Csv => {
                let file = destination.file.take().expect("an open destination");
                let mut csv = csv::Writer::from_writer(file);
                csv.write_record(columns.iter().map(|c| c.name.as_str()))?;
                Out::Csv(destination, Box::new(csv))
            }
            FileFormat::Parquet => {
                let file = destination.file.take().expect("an open destination");
                let schema = Arc::new(schema(&columns)?);
                let properties = Arc::new(WriterProperties::builder().build());
                let writer = SerializedFileWriter::new(file, schema, properties)?;
                let buffered = vec![Vec::with_capacity(GROUP); columns.len()];
                Out::Parquet(destination, Box::new(writer), buffered)
            }
        };
        Ok(TableWriter {
            columns,
            out,
            rows: 0,
        })
    }

    pub fn write(&mut self, row: Vec<Cell>) -> anyhow::Result<()> {
        self.rows += 1;
        match &mut self.out {
            Out::Csv(_, csv) => {
                for cell in &row {
                    match cell {
                        Cell::Text(text) => csv.write_field(text)?,
                        other => csv.write_field(other.text())?,
                    }
                }
                csv.write_record(None::<&[u8]>)?;
            }
            Out::Jsonl(destination) => {
                let object: serde_json::Map<String, serde_json::Value> = self
                    .columns
                    .iter()
                    .zip(&row)
                    .map(|(c, v)| (c.name.clone(), v.json()))
                    .collect();
                let out = destination.writer();
                serde_json::to_writer(&mut *out, &object)?;
                out.write_all(b"\n")?;
            }
            Out::Parquet(_, writer, buffered) => {
                for (column, cell) in buffered.iter_mut().zip(row) {
                    column.push(cell);
                }
                if buffered.first().is_some_and(|c| c.len() >= GROUP) {
                    flush_group(writer, &self.columns, buffered)?;
                }
            }
        }
        Ok(())
    }

    pub fn finish(self) -> anyhow::Result<()> {
        match self.out {
            Out::Csv(destination, csv) => {
                let file = csv.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
                destination.finish_with(file)
            }
            Out::Jsonl(destination) => destination.finish(),
            Out::Parquet(destination, mut writer, mut buffered) => {
                if !buffered.first().is_none_or(Vec::is_empty) {
                    flush_group(&mut writer, &self.columns, &mut buffered)?;
                }
                let file = writer.into_inner()?;
                destination.finish_with(file)
            }
        }
    }
}

fn primitive(name: &str, ty: &Type, repetition: Repetition) -> anyhow::Result<Schema> {
    let (physical, logical) = match ty {
        Type::Text => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
        Type::Int => (Physical::INT64, None),
        Type::Double => (Physical::DOUBLE, None),
        Type::Bool => (Physical::BOOLEAN, None),
        Type::Date => (Physical::INT32, Some(LogicalType::Date)),
        Type::Time => (
            Physical::INT64,
            Some(LogicalType::timestamp(true, TimeUnit::MICROS)),
        ),
        Type::List(_) => bail!("a list of lists"),
    };
    Ok(Schema::primitive_type_builder(name, physical)
        .with_repetition(repetition)
        .with_logical_type(logical)
        .build()?)
}

/// The Parquet schema of `columns`: each optional; a list the standard
/// three-level `LIST` of optional elements.
fn schema(columns: &[Column]) -> anyhow::Result<Schema> {
    let fields = columns
        .iter()
        .map(|c| {
            Ok(Arc::new(match &c.ty {
                Type::List(element) => {
                    let element = primitive("element", element, Repetition::OPTIONAL)?;
                    let list = Schema::group_type_builder("list")
                        .with_repetition(Repetition::REPEATED)
                        .with_fields(vec![Arc::new(element)])
                        .build()?;
                    Schema::group_type_builder(&c.name)
                        .with_repetition(Repetition::OPTIONAL)
                        .with_logical_type(Some(LogicalType::List))
                        .with_fields(vec![Arc::new(list)])
                        .build()?
                }
                ty => primitive(&c.name, ty, Repetition::OPTIONAL)?,
            }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Schema::group_type_builder("schema")
        .with_fields(fields)
        .build()?)
}

/// The values and levels of one column's cells: `value` gives a present
/// value (none for a cell of another type, written as null).
fn levels<T>(
    cells: &[Cell],
    list: bool,
    value: impl Fn(&Cell) -> Option<T>,
) -> (Vec<T>, Vec<i16>, Option<Vec<i16>>) {
    let mut values = Vec::with_capacity(cells.len());
    let mut defs = Vec::with_capacity(cells.len());
    let mut reps = list.then(|| Vec::with_capacity(cells.len()));
    for cell in cells {
        match (list, cell) {
            (true, Cell::List(items)) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(reps) = reps.as_mut() {
                        reps.push(i16::from(i > 0));
                    }
                    match value(item) {
                        Some(v) => {
                            values.push(v);
                            defs.push(3);
                        }
                        None => defs.push(2),
                    }
                }
            }
            (true, cell) => {
                reps.as_mut().expect("list levels").push(0);
                defs.push(i16::from(matches!(cell, Cell::List(_))));
            }
            (false, cell) => match value(cell) {
                Some(v) => {
                    values.push(v);
                    defs.push(1);
                }
                None => defs.push(0),
            },
        }
    }
    (values, defs, reps)
}

fn write_column<T: DataType>(
    column: &mut SerializedColumnWriter<'_>,
    (values, defs, reps): (Vec<T::T>, Vec<i16>, Option<Vec<i16>>),
) -> anyhow::Result<()> {
    column
        .typed::<T>()
        .write_batch(&values, Some(&defs), reps.as_deref())?;
    Ok(())
}

fn flush_group(
    writer: &mut SerializedFileWriter<std::io::BufWriter<std::fs::File>>,
    columns: &[Column],
    buffered: &mut [Vec<Cell>],
) -> anyhow::Result<()> {
    let mut group = writer.next_row_group()?;
    for (column, cells) in columns.iter().zip(buffered.iter_mut()) {
        let mut out = group
            .next_column()?
            .context("the schema has a column for each")?;
        let (ty, list) = match &column.ty {
            Type::List(element) => (element.as_ref(), true),
            ty => (ty, false),
        };
        match ty {
            Type::Text => write_column::<ByteArrayType>(
                &mut out,
                levels(cells, list, |c| match c {
                    Cell::Text(s) | Cell::Json(s) => Some(ByteArray::from(s.as_bytes().to_vec())),
                    _ => None,
                }),
            )?,
            Type::Int | Type::Time => write_column::<Int64Type>(
                &mut out,
                levels(cells, list, |c| match c {
                    Cell::Int(n) | Cell::Time(n) => Some(*n),
                    _ => None,
                }),
            )?,
            Type::Double => write_column::<DoubleType>(
                &mut out,
                levels(cells, list, |c| match c {
                    Cell::Double(x) => Some(*x),
                    _ => None,
                }),
            )?,
            Type::Bool => write_column::<BoolType>(
                &mut out,
                levels(cells, list, |c| match c {
                    Cell::Bool(b) => Some(*b),
                    _ => None,
                }),
            )?,
            Type::Date => write_column::<Int32Type>(
                &mut out,
                levels(cells, list, |c| match c {
                    Cell::Date(d) => Some(*d),
                    _ => None,
                }),
            )?,
            Type::List(_) => bail!("a list of lists"),
        }
        out.close()?;
        cells.clear();
    }
    group.close()?;
    Ok(())
}
