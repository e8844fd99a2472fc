//! Record progressions: who held a benchmark's record, from when, by how
//! much, per comparability key; optionally split by access with the gap
//! between open-weights and proprietary records.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use frontierwatch_proto::v1::*;
use prost::Message as _;

use super::leaderboard::{canonical_first, direction_of};
use crate::domain::analytics::to_date;
use crate::domain::kinds::weights_of;
use crate::domain::progress::{self, Point, SATURATION_DEFINITION};
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::analytics::{self as queries, ResultFilter};
use crate::storage::progress::{RecordRow, Records, records};

/// A validated progression question.
#[derive(Debug, Clone)]
pub struct ProgressionQuery {
    pub benchmark: String,
    /// Which results count, but for access (each line's own).
    pub filter: ResultFilter,
    /// The lines asked for: one access filter's, or the two of a split
    /// (open weights, then proprietary), which adds the gap.
    pub lines: Vec<AccessFilter>,
    /// Only this section.
    pub settings_key: Option<String>,
}

/// One line's records by section.
type Lines = Vec<(AccessFilter, BTreeMap<String, Vec<RecordRow>>)>;

pub async fn progression(
    store: &Store,
    q: &ProgressionQuery,
) -> Result<RecordProgression, ApiError> {
    let benchmark: Benchmark = store.get(&q.benchmark).await?;
    let direction = direction_of(&benchmark);
    let scale = ScoreScale::try_from(benchmark.scale).unwrap_or(ScoreScale::Unspecified);
    let as_of = super::today_or(q.filter.as_of);
    // Each line is one read of the benchmark's days; the two lines of a
    // split are read at once, on two connections (one read joined to the
    // releases' weights had to sort every result by line: slower than two).
    let read_line = async |access: AccessFilter| {
        let filter = ResultFilter {
            weights: weights_of(access),
            ..q.filter.clone()
        };
        let question = Records {
            benchmark: &q.benchmark,
            filter: &filter,
            lower_is_better: direction == ScoreDirection::LowerIsBetter,
            settings_key: q.settings_key.as_deref(),
        };
        let rows = records(store.pool(), &question).await?;
        let mut by_key: BTreeMap<String, Vec<RecordRow>> = BTreeMap::new();
        for row in rows {
            by_key
                .entry(row.settings_key.clone())
                .or_default()
                .push(row);
        }
        Ok::<_, ApiError>((access, by_key))
    };
    let lines: Lines = match q.lines[..] {
        [one] => vec![read_line(one).await?],
        [open, proprietary] => {
            let (open, proprietary) = tokio::try_join!(read_line(open), read_line(proprietary))?;
            vec![open, proprietary]
        }
        _ => unreachable!("one line, or the two of a split"),
    };
    let stored = stored_of(store, &lines).await?;
    // Sections by results counted, largest first, then by key; the
    // canonical settings before all.
    let mut sizes: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, by_key) in &lines {
        for (key, rows) in by_key {
            *sizes.entry(key).or_default() += rows.first().map_or(0, |r| r.size);
        }
    }
    let mut keys: Vec<(&str, i64)> = sizes.into_iter().collect();
    keys.sort_by(|(ka, a), (kb, b)| b.cmp(a).then_with(|| ka.cmp(kb)));
    canonical_first(&benchmark, &mut keys, |(key, _)| key);
    let mut sections = Vec::new();
    for (key, _) in keys {
        let mut section = ProgressionSection {
            settings_key: key.to_owned(),
            ..Default::default()
        };
        let mut points: Vec<Vec<Point>> = Vec::new();
        for (access, by_key) in &lines {
            let rows = by_key.get(key).map_or(&[][..], Vec::as_slice);
            let line = line(*access, rows, &stored, as_of, direction, scale);
            if section.settings.is_none() {
                section.settings = rows
                    .first()
                    .and_then(|r| stored.result(&r.name))
                    .and_then(|r| r.settings.clone());
            }
            points.push(rows.iter().map(point).collect());
            section.lines.push(line);
        }
        if lines.len() == 2 {
            section.gaps = access_gaps(&section.lines, &points, direction);
        }
        sections.push(section);
    }
    Ok(RecordProgression {
        benchmark: q.benchmark.clone(),
        direction: direction as i32,
        scale: scale as i32,
        as_of: Some(to_date(as_of)),
        sections,
        saturation_definition: SATURATION_DEFINITION.to_owned(),
    })
}

fn point(row: &RecordRow) -> Point {
    Point {
        date: row.publish_date,
        score: row.score,
    }
}

fn line(
    access: AccessFilter,
    rows: &[RecordRow],
    stored: &Stored,
    as_of: NaiveDate,
    direction: ScoreDirection,
    scale: ScoreScale,
) -> ProgressionLine {
    let points: Vec<Point> = rows.iter().map(point).collect();
    let stats = progress::line_stats(&points, as_of, direction, scale);
    let mut records = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let result = stored.result(&row.name);
        let model = row.model.clone().unwrap_or_default();
        records.push(ScoreRecord {
            date: Some(to_date(row.publish_date)),
            release: row.release.clone(),
            release_display_name: stored.release_name(&row.release),
            organization: stored.organization(&model),
            model,
            score: row.score,
            improvement: stats.improvements[i],
            stood_days: stats.stood_days[i],
            benchmark_result: row.name.clone(),
            provenance: result.and_then(|r| r.provenance.clone()),
        });
    }
    ProgressionLine {
        access: access as i32,
        current: records.last().cloned(),
        records,
        headroom: stats.headroom,
        records_last_365_days: stats.records_last_365_days,
        median_days_between_records: stats.median_days_between_records,
        saturation: stats.saturation as i32,
        undated_results: rows
            .first()
            .map_or(0, |r| i32::try_from(r.undated).unwrap_or(i32::MAX)),
    }
}

fn access_gaps(
    lines: &[ProgressionLine],
    points: &[Vec<Point>],
    direction: ScoreDirection,
) -> Vec<AccessGap> {
    let (open, proprietary) = (&points[0], &points[1]);
    progress::gaps(open, proprietary, direction)
        .into_iter()
        .map(|g| AccessGap {
            date: Some(to_date(g.date)),
            open_weights_score: g.open.map(|i| open[i].score),
            proprietary_score: g.proprietary.map(|i| proprietary[i].score),
            score_gap: g.score_gap,
            time_gap_days: g.time_gap_days,
            matched_proprietary_release: g
                .matched
                .map(|i| lines[1].records[i].release.clone())
                .unwrap_or_default(),
        })
        .collect()
}

/// The stored resources the records show: their results, releases and
/// model lines, read in one lookup.
struct Stored {
    results: HashMap<String, BenchmarkResult>,
    bytes: HashMap<String, Vec<u8>>,
}

impl Stored {
    fn result(&self, name: &str) -> Option<&BenchmarkResult> {
        self.results.get(name)
    }

    fn release_name(&self, name: &str) -> String {
        self.bytes
            .get(name)
            .and_then(|b| Release::decode(b.as_slice()).ok())
            .map(|r| r.display_name)
            .unwrap_or_default()
    }

    /// A model line's first developer.
    fn organization(&self, model: &str) -> String {
        self.bytes
            .get(model)
            .and_then(|b| Model::decode(b.as_slice()).ok())
            .and_then(|m| m.developers.into_iter().next())
            .unwrap_or_default()
    }
}

async fn stored_of(store: &Store, lines: &Lines) -> Result<Stored, ApiError> {
    let rows: Vec<&RecordRow> = lines
        .iter()
        .flat_map(|(_, by_key)| by_key.values().flatten())
        .collect();
    let mut names: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            [
                Some(r.name.clone()),
                Some(r.release.clone()),
                r.model.clone(),
            ]
        })
        .flatten()
        .collect();
    names.sort();
    names.dedup();
    let bytes = queries::result_data(store.pool(), &names).await?;
    let mut results = HashMap::new();
    for row in rows {
        let Some(data) = bytes.get(&row.name) else {
            continue;
        };
        let result = BenchmarkResult::decode(data.as_slice()).map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context("stored result does not decode"))
        })?;
        results.insert(row.name.clone(), result);
    }
    Ok(Stored { results, bytes })
}
