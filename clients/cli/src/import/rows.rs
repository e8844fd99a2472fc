//! Reading the CSV datasets the importers share: rows with the lines they
//! start on, fields by name, dates, and base releases before their
//! variants.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use anyhow::Context as _;
use frontierwatch_client::proto::{ApproximateDate, DatePrecision};

/// Rows of a CSV file as maps, with the line each record starts on.
pub fn read_csv(path: &Path) -> anyhow::Result<Vec<(u64, HashMap<String, String>)>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let headers: Vec<String> = reader
        .headers()?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    // Line numbers as editors and `grep -n` count them: one more than the
    // newlines before the record's first byte. (The csv reader's own line
    // counter is one lower after a CRLF line end, as in files saved on
    // Windows or by spreadsheets.)
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = LineCounter::default();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("{} is not valid CSV", path.display()))?;
        let line = record
            .position()
            .map_or(0, |p| lines.line_at(&text, p.byte()));
        let map = headers
            .iter()
            .cloned()
            .zip(record.iter().map(|v| v.trim().to_owned()))
            .collect();
        rows.push((line, map));
    }
    Ok(rows)
}

/// 1-based line numbers of increasing byte offsets in one text, counted
/// once: each call counts only the newlines since the previous offset.
#[derive(Default)]
struct LineCounter {
    byte: usize,
    newlines: u64,
}

impl LineCounter {
    fn line_at(&mut self, text: &[u8], byte: u64) -> u64 {
        let mut end = usize::try_from(byte).unwrap_or(usize::MAX).min(text.len());
        // After a CRLF terminator the reader stops between \r and \n, so a
        // record's position can lie before the end of the previous line:
        // the record starts at its first byte that ends no line.
        while end < text.len() && (text[end] == b'\n' || text[end] == b'\r') {
            end += 1;
        }
        if end < self.byte {
            *self = LineCounter::default();
        }
        self.newlines += text[self.byte..end].iter().filter(|b| **b == b'\n').count() as u64;
        self.byte = end;
        self.newlines + 1
    }
}

pub fn get<'a>(row: &'a HashMap<String, String>, key: &str) -> &'a str {
    row.get(key).map_or("", String::as_str)
}

/// A date `YYYY-MM-DD` at day precision.
pub fn day(text: &str) -> Option<ApproximateDate> {
    let date = parse_date(text)?;
    Some(ApproximateDate {
        date: Some(date),
        precision: DatePrecision::Day as i32,
    })
}

/// The date a dataset cell starts with (`YYYY-MM-DD`, a time may
/// follow), when it is a real day between 1900 and 2100.
pub fn parse_date(text: &str) -> Option<frontierwatch_client::proto::Date> {
    crate::analytics::parse_date(text.get(..10)?)
        .ok()
        .filter(|d| (1900..=2100).contains(&d.year))
}

/// Orders releases so that every base release comes before its variants;
/// returns the order and the releases whose base is missing or cyclic.
pub fn base_first(bases: &BTreeMap<String, Option<String>>) -> Vec<String> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    loop {
        let ready: Vec<String> = bases
            .iter()
            .filter(|(r, b)| {
                !done.contains(*r)
                    && b.as_ref()
                        .is_none_or(|b| done.contains(b) || !bases.contains_key(b))
            })
            .map(|(r, _)| r.clone())
            .collect();
        if ready.is_empty() {
            // Cycles: emit the rest without their bases.
            order.extend(bases.keys().filter(|r| !done.contains(*r)).cloned());
            return order;
        }
        for r in ready {
            done.insert(r.clone());
            order.push(r);
        }
    }
}

#[cfg(test)]
mod line_tests {
    use super::read_csv;

    #[test]
    fn rows_carry_the_files_own_line_numbers() {
        let dir = std::env::temp_dir().join(format!("fw-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rows.csv");
        // A header, a row, a row whose quoted cell spans two lines, a row;
        // with LF and with CRLF line ends.
        for newline in ["\n", "\r\n"] {
            let text = ["a,b", "1,2", "\"x", "y\",3", "4,5", ""].join(newline);
            std::fs::write(&path, text).unwrap();
            let lines: Vec<u64> = read_csv(&path)
                .unwrap()
                .into_iter()
                .map(|(l, _)| l)
                .collect();
            assert_eq!(lines, vec![2, 3, 5], "line ends {newline:?}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
