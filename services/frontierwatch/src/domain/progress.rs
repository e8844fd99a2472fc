//! The arithmetic of progress over time, on plain values: how records
//! improve and stand, headroom, pace and saturation, the gap between two
//! lines of records, and when a fall in score is a regression.

use chrono::NaiveDate;
use frontierwatch_proto::v1::{BenchmarkResult, Saturation, ScoreDirection, ScoreScale};

/// How `Saturation` is read, as the response states it.
pub const SATURATION_DEFINITION: &str = "saturated: the scale is bounded (fraction or percent) \
     and the current record is within 5% of the scale's range of its bound; stalled: otherwise, \
     no record was set in the 365 days up to as_of; active: otherwise";

/// The share of a bounded scale's range within which a record reads as
/// saturated.
const SATURATED_WITHIN: f64 = 0.05;

/// One record: when it was set and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub date: NaiveDate,
    pub score: f64,
}

/// What a line of records says besides the records themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct LineStats {
    /// Per record: its improvement over the previous one (none for the
    /// first), in the direction of improvement.
    pub improvements: Vec<Option<f64>>,
    /// Per record: days it stood, until the next or until `as_of`.
    pub stood_days: Vec<i32>,
    pub headroom: Option<f64>,
    pub records_last_365_days: i32,
    pub median_days_between_records: Option<f64>,
    pub saturation: Saturation,
}

/// The scale's bounds, when it has both.
pub fn bounds(scale: ScoreScale) -> Option<(f64, f64)> {
    match scale {
        ScoreScale::Fraction => Some((0.0, 1.0)),
        ScoreScale::Percent => Some((0.0, 100.0)),
        _ => None,
    }
}

/// How much better `a` is than `b`, in the direction of improvement.
pub fn gain(direction: ScoreDirection, a: f64, b: f64) -> f64 {
    if direction == ScoreDirection::LowerIsBetter {
        b - a
    } else {
        a - b
    }
}

fn days(from: NaiveDate, to: NaiveDate) -> i32 {
    i32::try_from((to - from).num_days()).unwrap_or(i32::MAX)
}

/// The statistics of a line of records, oldest first, as of a date.
pub fn line_stats(
    records: &[Point],
    as_of: NaiveDate,
    direction: ScoreDirection,
    scale: ScoreScale,
) -> LineStats {
    let improvements = records
        .iter()
        .enumerate()
        .map(|(i, r)| (i > 0).then(|| gain(direction, r.score, records[i - 1].score)))
        .collect();
    let stood_days = records
        .iter()
        .enumerate()
        .map(|(i, r)| days(r.date, records.get(i + 1).map_or(as_of, |n| n.date)))
        .collect();
    let current = records.last();
    let headroom = current.zip(bounds(scale)).map(|(r, (low, high))| {
        if direction == ScoreDirection::LowerIsBetter {
            r.score - low
        } else {
            high - r.score
        }
    });
    let year_ago = as_of - chrono::Duration::days(365);
    let records_last_365_days = records.iter().filter(|r| r.date > year_ago).count() as i32;
    let mut gaps: Vec<f64> = records
        .windows(2)
        .map(|w| f64::from(days(w[0].date, w[1].date)))
        .collect();
    gaps.sort_by(f64::total_cmp);
    let median_days_between_records = match gaps.len() {
        0 => None,
        n if n % 2 == 1 => Some(gaps[n / 2]),
        n => Some((gaps[n / 2 - 1] + gaps[n / 2]) / 2.0),
    };
    let saturation = match (current, headroom, bounds(scale)) {
        (None, _, _) => Saturation::Unspecified,
        (Some(_), Some(room), Some((low, high))) if room <= SATURATED_WITHIN * (high - low) => {
            Saturation::Saturated
        }
        _ if records_last_365_days == 0 => Saturation::Stalled,
        _ => Saturation::Active,
    };
    LineStats {
        improvements,
        stood_days,
        headroom,
        records_last_365_days,
        median_days_between_records,
        saturation,
    }
}

/// The open–closed gap at one date.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    pub date: NaiveDate,
    /// The index of the open-weights record standing then.
    pub open: Option<usize>,
    /// The index of the proprietary record standing then.
    pub proprietary: Option<usize>,
    /// How far open weights trail (negative when they lead).
    pub score_gap: Option<f64>,
    pub time_gap_days: Option<i32>,
    /// The index of the proprietary record the open-weights record matches.
    pub matched: Option<usize>,
}

/// The record of a line standing on a date: the last set on or before it.
fn standing(records: &[Point], date: NaiveDate) -> Option<usize> {
    records.iter().rposition(|r| r.date <= date)
}

/// The gap at every date either line set a record, oldest first.
pub fn gaps(open: &[Point], proprietary: &[Point], direction: ScoreDirection) -> Vec<Gap> {
    let mut dates: Vec<NaiveDate> = open.iter().chain(proprietary).map(|r| r.date).collect();
    dates.sort();
    dates.dedup();
    dates
        .into_iter()
        .map(|date| {
            let o = standing(open, date);
            let p = standing(proprietary, date);
            let mut gap = Gap {
                date,
                open: o,
                proprietary: p,
                score_gap: None,
                time_gap_days: None,
                matched: None,
            };
            if let (Some(o), Some(p)) = (o, p) {
                let open_score = open[o].score;
                gap.score_gap = Some(gain(direction, proprietary[p].score, open_score));
                // Proprietary records only improve: the latest one that the
                // open record equals or beats is the one it matches.
                gap.matched = proprietary[..=p]
                    .iter()
                    .rposition(|r| gain(direction, open_score, r.score) >= 0.0);
                gap.time_gap_days = gap.matched.map(|m| {
                    if m == p && gain(direction, open_score, proprietary[p].score) > 0.0 {
                        0
                    } else {
                        days(proprietary[m].date, date)
                    }
                });
            }
            gap
        })
        .collect()
}

/// A result's stated uncertainty: its standard error, else half its
/// confidence interval's width.
pub fn uncertainty(result: &BenchmarkResult) -> Option<f64> {
    result.standard_error.or_else(|| {
        result
            .confidence_interval
            .as_ref()
            .map(|ci| (ci.high - ci.low).abs() / 2.0)
    })
}

/// How far a score may fall before it is a regression: the root of the
/// sum of the squared uncertainties stated, else the threshold.
pub fn tolerance(previous: Option<f64>, current: Option<f64>, threshold: f64) -> f64 {
    match (previous, current) {
        (None, None) => threshold,
        (p, c) => (p.unwrap_or(0.0).powi(2) + c.unwrap_or(0.0).powi(2)).sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn point(date: &str, score: f64) -> Point {
        Point {
            date: day(date),
            score,
        }
    }

    #[test]
    fn a_line_of_records_reads_its_pace_and_saturation() {
        let records = [
            point("2024-01-01", 50.0),
            point("2024-03-01", 70.0),
            point("2025-03-01", 96.0),
        ];
        let up = ScoreDirection::HigherIsBetter;
        let stats = line_stats(&records, day("2025-06-01"), up, ScoreScale::Percent);
        assert_eq!(stats.improvements, vec![None, Some(20.0), Some(26.0)]);
        assert_eq!(stats.stood_days, vec![60, 365, 92]);
        assert_eq!(stats.headroom, Some(4.0));
        assert_eq!(stats.records_last_365_days, 1);
        assert_eq!(
            stats.median_days_between_records,
            Some((60.0 + 365.0) / 2.0)
        );
        assert_eq!(stats.saturation, Saturation::Saturated);
        let later = line_stats(&records[..2], day("2025-06-01"), up, ScoreScale::Percent);
        assert_eq!(later.saturation, Saturation::Stalled);
        let unbounded = line_stats(&records, day("2025-06-01"), up, ScoreScale::Elo);
        assert_eq!(unbounded.headroom, None);
        assert_eq!(unbounded.saturation, Saturation::Active);
        let none = line_stats(&[], day("2025-06-01"), up, ScoreScale::Percent);
        assert_eq!(none.saturation, Saturation::Unspecified);
    }

    #[test]
    fn the_gap_matches_the_latest_proprietary_record_equalled() {
        let up = ScoreDirection::HigherIsBetter;
        let proprietary = [point("2024-01-01", 60.0), point("2024-06-01", 80.0)];
        let open = [point("2024-03-01", 65.0), point("2025-01-01", 85.0)];
        let g = gaps(&open, &proprietary, up);
        let dates: Vec<_> = g.iter().map(|g| g.date).collect();
        assert_eq!(
            dates,
            vec![
                day("2024-01-01"),
                day("2024-03-01"),
                day("2024-06-01"),
                day("2025-01-01")
            ]
        );
        assert_eq!(g[0].score_gap, None);
        assert_eq!(g[1].score_gap, Some(-5.0));
        assert_eq!(g[1].time_gap_days, Some(0));
        assert_eq!(g[2].score_gap, Some(15.0));
        // 65 matches the record of 60 set on 2024-01-01.
        assert_eq!(g[2].matched, Some(0));
        assert_eq!(g[2].time_gap_days, Some(152));
        assert_eq!(g[3].time_gap_days, Some(0));
        // Lower is better, and an open record that matches nothing yet.
        let down = ScoreDirection::LowerIsBetter;
        let g = gaps(
            &[point("2024-02-01", 9.0)],
            &[point("2024-01-01", 5.0)],
            down,
        );
        assert_eq!(g[1].score_gap, Some(4.0));
        assert_eq!(g[1].time_gap_days, None);
    }

    #[test]
    fn tolerance_is_the_stated_uncertainty_else_the_threshold() {
        assert_eq!(tolerance(None, None, 0.5), 0.5);
        assert_eq!(tolerance(Some(3.0), Some(4.0), 0.5), 5.0);
        assert_eq!(tolerance(Some(3.0), None, 9.0), 3.0);
    }
}
