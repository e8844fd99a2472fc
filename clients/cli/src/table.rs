//! Messages as typed tables, from their descriptors: what `fwatch export`
//! writes as CSV and Parquet, and what an analytics answer saved with
//! `--save` becomes. The same rules as the Python client's
//! `frontierwatch.frames`, so a table reads alike in both:
//!
//! - a resource is one row; an analytics answer is a row for each leaf of
//!   its deepest chain of repeated messages (a leaderboard's rows, a
//!   progression's records, a frontier's points), with the other fields
//!   of the messages above it as columns named by their path
//!   (`sections.settings_key`);
//! - within a row, nested messages become dotted columns
//!   (`provenance.source_url`); a timestamp is a UTC time, a `Date` a date
//!   (a partial date: none), an enum its name, a repeated scalar a list, a
//!   repeated message a list of its JSON forms, a map its JSON form;
//! - a field with presence that is unset, or any field of an unset
//!   message, is none.

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};

use crate::dynamic::to_json;

/// A column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Text,
    Int,
    Double,
    Bool,
    /// Days since 1970-01-01.
    Date,
    /// Microseconds since 1970-01-01T00:00:00Z.
    Time,
    /// A list of a scalar type.
    List(Box<Type>),
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    /// A JSON text (a message, a map): text in Parquet, embedded as JSON
    /// in CSV lists and JSON Lines.
    Json(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Date(i32),
    Time(i64),
    List(Vec<Cell>),
}

/// A column: its name, its type, and where its value is read.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: Type,
    /// The chain level it is read at (the leaf: the chain's length).
    level: usize,
    /// The message fields leading to the value, the value's field last.
    path: Vec<FieldDescriptor>,
    read: Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Scalar,
    Timestamp,
    Date,
    TypeUrl,
    /// A repeated scalar.
    List,
    /// A repeated message: a list of JSON texts.
    Messages,
    /// A map, or a message nested too deep: its JSON text.
    Json,
}

/// How messages of one type become rows.
#[derive(Debug, Clone)]
pub struct Shape {
    /// The repeated message fields leading to a row.
    chain: Vec<FieldDescriptor>,
    pub columns: Vec<Column>,
}

/// Nested messages deeper than this are one JSON column.
const DEPTH: usize = 4;

impl Shape {
    /// A row per message of this type (a resource).
    pub fn of(descriptor: &MessageDescriptor) -> Self {
        let mut columns = Vec::new();
        flatten(descriptor, "", 0, &mut Vec::new(), None, &mut columns);
        Shape {
            chain: Vec::new(),
            columns,
        }
    }

    /// A row per leaf of the deepest chain of repeated messages (an
    /// analytics answer).
    pub fn of_answer(descriptor: &MessageDescriptor) -> Self {
        let chain = deepest_chain(descriptor);
        let mut columns = Vec::new();
        let mut message = descriptor.clone();
        let mut prefix = String::new();
        for (level, field) in chain.iter().enumerate() {
            flatten(
                &message,
                &prefix,
                level,
                &mut Vec::new(),
                Some(field),
                &mut columns,
            );
            prefix.push_str(field.name());
            prefix.push('.');
            message = field.kind().as_message().cloned().expect("a message chain");
        }
        let mut leaf = Vec::new();
        flatten(&message, "", chain.len(), &mut Vec::new(), None, &mut leaf);
        // A leaf column hides a column of the same name above it.
        columns.retain(|c| !leaf.iter().any(|l| l.name == c.name));
        columns.extend(leaf);
        Shape { chain, columns }
    }

    /// The rows of `message`, each a cell per column.
    pub fn rows(&self, message: &DynamicMessage) -> Vec<Vec<Cell>> {
        let mut out = Vec::new();
        self.walk(&[message], &mut out);
        out
    }

    fn walk(&self, above: &[&DynamicMessage], out: &mut Vec<Vec<Cell>>) {
        let level = above.len() - 1;
        if level == self.chain.len() {
            out.push(
                self.columns
                    .iter()
                    .map(|c| read(above[c.level], c))
                    .collect(),
            );
            return;
        }
        if let Value::List(items) = above[level].get_field(&self.chain[level]).as_ref() {
            for item in items.iter().filter_map(Value::as_message) {
                let mut next = above.to_vec();
                next.push(item);
                self.walk(&next, out);
            }
        }
    }
}

fn is_message(field: &FieldDescriptor) -> bool {
    matches!(field.kind(), Kind::Message(_)) && !field.is_map()
}

/// The deepest chain of repeated message fields, the first of equal depth.
fn deepest_chain(descriptor: &MessageDescriptor) -> Vec<FieldDescriptor> {
    fn chain(descriptor: &MessageDescriptor, seen: &mut Vec<String>) -> Vec<FieldDescriptor> {
        if seen.iter().any(|s| s == descriptor.full_name()) {
            return Vec::new();
        }
        seen.push(descriptor.full_name().to_owned());
        let mut best = Vec::new();
        for field in descriptor.fields() {
            if field.is_list() && is_message(&field) {
                let inner = field.kind().as_message().cloned().expect("a message");
                let mut here = vec![field.clone()];
                here.extend(chain(&inner, seen));
                if here.len() > best.len() {
                    best = here;
                }
            }
        }
        seen.pop();
        best
    }
    chain(descriptor, &mut Vec::new())
}

fn scalar_type(kind: &Kind) -> Type {
    match kind {
        Kind::Double | Kind::Float => Type::Double,
        Kind::Bool => Type::Bool,
        Kind::String | Kind::Bytes | Kind::Enum(_) | Kind::Message(_) => Type::Text,
        _ => Type::Int,
    }
}

/// Adds the columns of `descriptor`'s fields (but `skip`), named with
/// `prefix`, read through `path`.
fn flatten(
    descriptor: &MessageDescriptor,
    prefix: &str,
    level: usize,
    path: &mut Vec<FieldDescriptor>,
    skip: Option<&FieldDescriptor>,
    out: &mut Vec<Column>,
) {
    for field in descriptor.fields() {
        if skip.is_some_and(|s| s.number() == field.number()) {
            continue;
        }
        let name = format!("{prefix}{}", field.name());
        let (ty, read) = match field.kind() {
            _ if field.is_map() => (Type::Text, Read::Json),
            Kind::Message(_) if field.is_list() => {
                (Type::List(Box::new(Type::Text)), Read::Messages)
            }
            kind if field.is_list() => (Type::List(Box::new(scalar_type(&kind))), Read::List),
            Kind::Message(inner) => match inner.full_name() {
                "google.protobuf.Timestamp" => (Type::Time, Read::Timestamp),
                "frontierwatch.v1.Date" => (Type::Date, Read::Date),
                "google.protobuf.Any" => (Type::Text, Read::TypeUrl),
                _ if path.len() + 1 >= DEPTH => (Type::Text, Read::Json),
                _ => {
                    path.push(field.clone());
                    flatten(&inner, &format!("{name}."), level, path, None, out);
                    path.pop();
                    continue;
                }
            },
            kind => (scalar_type(&kind), Read::Scalar),
        };
        let mut full = path.clone();
        full.push(field);
        out.push(Column {
            name,
            ty,
            level,
            path: full,
            read,
        });
    }
}

/// The value of `column` in `message`.
fn read(message: &DynamicMessage, column: &Column) -> Cell {
    let mut message = message;
    let (last, through) = column.path.split_last().expect("a column reads a field");
    for field in through {
        if !message.has_field(field) {
            return Cell::Null;
        }
        match message.get_field(field) {
            std::borrow::Cow::Borrowed(Value::Message(inner)) => message = inner,
            _ => return Cell::Null,
        }
    }
    let present = message.has_field(last);
    if !present && (last.supports_presence() || column.read != Read::Scalar) {
        return match column.read {
            Read::List | Read::Messages => Cell::List(Vec::new()),
            _ => Cell::Null,
        };
    }
    let value = message.get_field(last);
    match (column.read, value.as_ref()) {
        (Read::Scalar, value) => scalar(last, value),
        (Read::Timestamp, Value::Message(m)) => timestamp(m),
        (Read::Date, Value::Message(m)) => date(m),
        (Read::TypeUrl, Value::Message(m)) => m
            .get_field_by_name("type_url")
            .and_then(|v| v.as_str().map(|s| Cell::Text(s.to_owned())))
            .unwrap_or(Cell::Null),
        (Read::List, Value::List(items)) => {
            Cell::List(items.iter().map(|v| scalar(last, v)).collect())
        }
        (Read::Messages, Value::List(items)) => Cell::List(
            items
                .iter()
                .filter_map(Value::as_message)
                .map(|m| Cell::Json(json_text(m)))
                .collect(),
        ),
        (Read::Json, Value::Message(m)) => Cell::Json(json_text(m)),
        (Read::Json, Value::Map(_)) => {
            let json = to_json(message);
            Cell::Json(
                json.get(last.json_name())
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            )
        }
        _ => Cell::Null,
    }
}

fn scalar(field: &FieldDescriptor, value: &Value) -> Cell {
    match value {
        Value::Bool(b) => Cell::Bool(*b),
        Value::I32(n) => Cell::Int(i64::from(*n)),
        Value::I64(n) => Cell::Int(*n),
        Value::U32(n) => Cell::Int(i64::from(*n)),
        Value::U64(n) => Cell::Int(i64::try_from(*n).unwrap_or(i64::MAX)),
        Value::F32(x) => Cell::Double(f64::from(*x)),
        Value::F64(x) => Cell::Double(*x),
        Value::String(s) => Cell::Text(s.clone()),
        Value::Bytes(b) => Cell::Text(String::from_utf8_lossy(b).into_owned()),
        Value::EnumNumber(n) => Cell::Text(
            field
                .kind()
                .as_enum()
                .and_then(|e| e.get_value(*n))
                .map(|v| v.name().to_owned())
                .unwrap_or_else(|| n.to_string()),
        ),
        Value::Message(m) => Cell::Json(json_text(m)),
        Value::List(_) | Value::Map(_) => Cell::Null,
    }
}

/// A message's proto3 JSON form, serialized straight to text.
fn json_text(message: &DynamicMessage) -> String {
    let options = prost_reflect::SerializeOptions::new().stringify_64_bit_integers(false);
    let mut out = Vec::with_capacity(128);
    let _ = message.serialize_with_options(&mut serde_json::Serializer::new(&mut out), &options);
    String::from_utf8(out).unwrap_or_default()
}

fn int_field(message: &DynamicMessage, name: &str) -> i64 {
    match message.get_field_by_name(name).as_deref() {
        Some(Value::I32(n)) => i64::from(*n),
        Some(Value::I64(n)) => *n,
        _ => 0,
    }
}

fn timestamp(message: &DynamicMessage) -> Cell {
    let seconds = int_field(message, "seconds");
    let nanos = int_field(message, "nanos");
    Cell::Time(seconds.saturating_mul(1_000_000) + nanos / 1_000)
}

fn date(message: &DynamicMessage) -> Cell {
    let field = |name| u32::try_from(int_field(message, name)).unwrap_or(0);
    let year = i32::try_from(int_field(message, "year")).unwrap_or(0);
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
    chrono::NaiveDate::from_ymd_opt(year, field("month"), field("day"))
        .and_then(|d| i32::try_from((d - epoch).num_days()).ok())
        .map_or(Cell::Null, Cell::Date)
}

impl Cell {
    /// The cell as CSV text: none is empty, a date ISO 8601, a time
    /// RFC 3339 in UTC, a list a JSON array.
    pub fn text(&self) -> String {
        match self {
            Cell::Text(s) | Cell::Json(s) => s.clone(),
            // A list of messages: their JSON texts as one JSON array.
            Cell::List(items) if items.iter().all(|i| matches!(i, Cell::Json(_))) => {
                let texts: Vec<&str> = items
                    .iter()
                    .map(|i| match i {
                        Cell::Json(s) => s.as_str(),
                        _ => "",
                    })
                    .collect();
                format!("[{}]", texts.join(","))
            }
            Cell::Null | Cell::List(_) | Cell::Date(_) | Cell::Time(_) => match self.json() {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            },
            Cell::Int(n) => n.to_string(),
            Cell::Double(x) => x.to_string(),
            Cell::Bool(b) => b.to_string(),
        }
    }

    /// The cell as JSON: dates and times as their ISO 8601 texts.
    pub fn json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Cell::Null => J::Null,
            Cell::Text(s) => J::String(s.clone()),
            Cell::Json(s) => serde_json::from_str(s).unwrap_or(J::Null),
            Cell::Int(n) => J::from(*n),
            Cell::Double(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
            Cell::Bool(b) => J::Bool(*b),
            Cell::Date(days) => chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|e| e.checked_add_signed(chrono::TimeDelta::days(i64::from(*days))))
                .map_or(J::Null, |d| J::String(d.to_string())),
            Cell::Time(micros) => chrono::DateTime::from_timestamp_micros(*micros)
                .map_or(J::Null, |t| {
                    J::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                }),
            Cell::List(items) => J::Array(items.iter().map(Cell::json).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamic::{from_json, message};

    #[test]
    fn a_leaderboard_is_a_row_per_entry_with_its_section_above() {
        let descriptor = message("frontierwatch.v1.Leaderboard").unwrap();
        let shape = Shape::of_answer(&descriptor);
        assert!(!shape.chain.is_empty());
        let names: Vec<&str> = shape.columns.iter().map(|c| c.name.as_str()).collect();
        assert!(names.contains(&"score"), "{names:?}");
        assert!(
            names.iter().any(|n| n.starts_with("sections.")),
            "{names:?}"
        );
    }

    #[test]
    fn a_resource_flattens_with_typed_cells() {
        let descriptor = message("frontierwatch.v1.BenchmarkResult").unwrap();
        let result = from_json(
            descriptor.clone(),
            serde_json::json!({
                "name": "results/r1",
                "score": 50.5,
                "publishDate": {"year": 2025, "month": 3, "day": 2},
                "provenance": {"sources": [{"uri": "https://example.org"}]},
                "createTime": "2025-03-02T10:00:00Z",
            }),
        )
        .unwrap();
        let shape = Shape::of(&descriptor);
        let rows = shape.rows(&result);
        assert_eq!(rows.len(), 1);
        let cell = |name: &str| {
            let i = shape.columns.iter().position(|c| c.name == name);
            rows[0][i.unwrap_or_else(|| panic!("{name}"))].clone()
        };
        assert_eq!(cell("score"), Cell::Double(50.5));
        assert_eq!(cell("publish_date").text(), "2025-03-02");
        assert_eq!(cell("create_time").text(), "2025-03-02T10:00:00Z");
        match cell("provenance.sources") {
            Cell::List(sources) => assert!(sources[0].text().contains("https://example.org")),
            other => panic!("{other:?}"),
        }
        assert_eq!(cell("standard_error"), Cell::Null);
    }
}
