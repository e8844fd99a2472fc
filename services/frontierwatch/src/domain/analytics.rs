//! The analytics, as pure functions over resources: comparability keys,
//! leaderboard ranking with ties, cadence windows, transparency shares and
//! timelines. Storage fetches; these decide.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Days, Months, NaiveDate};
use frontierwatch_proto::v1::{
    CadenceReport, CadenceWindow, Commitment, CommitmentPeriod, Date, EvaluationSettings,
    LifecycleStage, Release, ScoreDirection, WindowStatus,
};

use super::violations::to_naive_date;

/// The comparability key of a result: its evaluation settings, canonical.
/// Two scores are compared only when their keys are equal.
pub fn settings_key(settings: Option<&EvaluationSettings>) -> String {
    let Some(s) = settings else {
        return "default".to_owned();
    };
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let parts = [
        format!("shots={}", opt(s.shots.map(|v| v.to_string()))),
        format!("cot={}", opt(s.chain_of_thought.map(|v| v.to_string()))),
        format!("tools={}", opt(s.tools.map(|v| v.to_string()))),
        format!("pass@k={}", opt(s.pass_at_k.map(|v| v.to_string()))),
        format!(
            "harness={}",
            if s.harness.is_empty() {
                "-".to_owned()
            } else {
                format!("{}@{}", s.harness.trim(), s.harness_version.trim())
            }
        ),
        format!(
            "judge={}",
            if s.judge_model.is_empty() {
                "-"
            } else {
                s.judge_model.trim()
            }
        ),
    ];
    let key = parts.join(";");
    if key == "shots=-;cot=-;tools=-;pass@k=-;harness=-;judge=-" {
        "default".to_owned()
    } else {
        key
    }
}

/// Whether `a` beats `b` in the benchmark's direction.
pub fn better(direction: ScoreDirection, a: f64, b: f64) -> bool {
    match direction {
        ScoreDirection::LowerIsBetter => a < b,
        ScoreDirection::HigherIsBetter | ScoreDirection::Unspecified => a > b,
    }
}

/// Competition ranks (1, 2, 2, 4) of scores sorted best first, with a flag
/// for rows sharing their score.
pub fn competition_ranks(sorted_scores: &[f64]) -> Vec<(i32, bool)> {
    let mut out = Vec::with_capacity(sorted_scores.len());
    for (i, score) in sorted_scores.iter().enumerate() {
        let rank = match i {
            0 => 1,
            _ if sorted_scores[i - 1] == *score => out.last().map_or(1, |(r, _): &(i32, bool)| *r),
            _ => i as i32 + 1,
        };
        let tied =
            (i > 0 && sorted_scores[i - 1] == *score) || sorted_scores.get(i + 1) == Some(score);
        out.push((rank, tied));
    }
    out
}

pub fn to_date(d: NaiveDate) -> Date {
    Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

fn stage_rank(stage: i32) -> i32 {
    match LifecycleStage::try_from(stage) {
        Ok(LifecycleStage::Announced) => 1,
        Ok(LifecycleStage::RestrictedPreview) => 2,
        Ok(LifecycleStage::PublicPreview) => 3,
        Ok(
            LifecycleStage::GenerallyAvailable
            | LifecycleStage::Deprecated
            | LifecycleStage::Retired,
        ) => 4,
        _ => 0,
    }
}

/// The date from which a release counts for a commitment, if it qualifies.
pub fn qualifying_date(commitment: &Commitment, release: &Release) -> Option<NaiveDate> {
    if commitment.trained_from_scratch && release.trained_from_scratch != Some(true) {
        return None;
    }
    let day_of = |d: Option<&frontierwatch_proto::v1::ApproximateDate>| {
        d.and_then(|a| a.date.as_ref()).and_then(to_naive_date)
    };
    let minimum = stage_rank(commitment.minimum_stage);
    if minimum == 0 {
        return day_of(release.release_date.as_ref())
            .or_else(|| day_of(release.announce_date.as_ref()));
    }
    let from_history = release
        .stage_history
        .iter()
        .filter(|c| stage_rank(c.stage) >= minimum)
        .filter_map(|c| day_of(c.date.as_ref()))
        .min();
    from_history.or_else(|| {
        (stage_rank(release.stage) >= minimum)
            .then(|| day_of(release.release_date.as_ref()))
            .flatten()
    })
}

/// The first day of the window that contains `start`, and the next.
fn window_bounds(period: CommitmentPeriod, start: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let first = match period {
        CommitmentPeriod::Weekly => {
            start - Days::new(u64::from(start.weekday().num_days_from_monday()))
        }
        CommitmentPeriod::Monthly => start.with_day(1)?,
        CommitmentPeriod::Quarterly => {
            NaiveDate::from_ymd_opt(start.year(), (start.month() - 1) / 3 * 3 + 1, 1)?
        }
        CommitmentPeriod::Yearly => NaiveDate::from_ymd_opt(start.year(), 1, 1)?,
        CommitmentPeriod::Unspecified => return None,
    };
    let next = match period {
        CommitmentPeriod::Weekly => first + Days::new(7),
        CommitmentPeriod::Monthly => first + Months::new(1),
        CommitmentPeriod::Quarterly => first + Months::new(3),
        CommitmentPeriod::Yearly => first + Months::new(12),
        CommitmentPeriod::Unspecified => return None,
    };
    Some((first, next))
}

/// The most windows a cadence report evaluates: the most recent ones (ten
/// years of weekly windows). A commitment that started earlier is scored
/// on these alone, so that neither a report nor the alert evaluator walks
/// the centuries since a start date in year 1.
pub const MAX_WINDOWS: u32 = 520;

/// The first window to evaluate: the commitment's start, or the start of
/// the earliest of the last `MAX_WINDOWS` windows up to `last_day`.
fn first_evaluated(period: CommitmentPeriod, start: NaiveDate, last_day: NaiveDate) -> NaiveDate {
    let Some((latest, _)) = window_bounds(period, last_day) else {
        return start;
    };
    let back = MAX_WINDOWS - 1;
    let floor = match period {
        CommitmentPeriod::Weekly => latest.checked_sub_days(Days::new(7 * u64::from(back))),
        CommitmentPeriod::Monthly => latest.checked_sub_months(Months::new(back)),
        CommitmentPeriod::Quarterly => latest.checked_sub_months(Months::new(3 * back)),
        CommitmentPeriod::Yearly => latest.checked_sub_months(Months::new(12 * back)),
        CommitmentPeriod::Unspecified => None,
    };
    floor.map_or(start, |floor| start.max(floor))
}

/// Lays out the windows of a commitment up to `as_of` and scores them
/// against the qualifying release dates (each release keeps at most one
/// window, earliest first).
pub fn cadence(
    commitment: &Commitment,
    releases: &[(String, NaiveDate)],
    as_of: NaiveDate,
) -> CadenceReport {
    let mut report = CadenceReport {
        commitment: commitment.name.clone(),
        as_of: Some(to_date(as_of)),
        ..Default::default()
    };
    let Some(start) = commitment.start_date.as_ref().and_then(to_naive_date) else {
        return report;
    };
    let Ok(period) = CommitmentPeriod::try_from(commitment.period) else {
        return report;
    };
    let end = commitment.end_date.as_ref().and_then(to_naive_date);
    let grace = Days::new(u64::try_from(commitment.grace_days.max(0)).unwrap_or(0));
    let mut dates: Vec<(String, NaiveDate)> = releases.to_vec();
    dates.sort_by_key(|(name, d)| (*d, name.clone()));
    let mut used = vec![false; dates.len()];
    let last_day = end.map_or(as_of, |e| e.min(as_of));
    let mut cursor = first_evaluated(period, start, last_day);
    let mut slips = Vec::new();
    while cursor <= as_of && end.is_none_or(|e| cursor <= e) {
        let Some((_, next)) = window_bounds(period, cursor) else {
            break;
        };
        let window_start = cursor;
        let window_end = end.map_or(next.pred_opt().unwrap_or(next), |e| {
            e.min(next.pred_opt().unwrap_or(next))
        });
        let mut window = CadenceWindow {
            start: Some(to_date(window_start)),
            end: Some(to_date(window_end)),
            ..Default::default()
        };
        let on_time = (0..dates.len()).find(|&i| {
            !used[i]
                && dates[i].1 >= window_start
                && dates[i].1 <= window_end
                && dates[i].1 <= as_of
        });
        let late = (0..dates.len()).find(|&i| {
            !used[i]
                && dates[i].1 > window_end
                && dates[i].1 <= window_end + grace
                && dates[i].1 <= as_of
        });
        if let Some(i) = on_time {
            used[i] = true;
            window.status = WindowStatus::Met as i32;
            window.release = dates[i].0.clone();
            window.release_date = Some(to_date(dates[i].1));
            report.met += 1;
        } else if let Some(i) = late {
            used[i] = true;
            let slip = (dates[i].1 - window_end).num_days() as i32;
            window.status = WindowStatus::MetLate as i32;
            window.release = dates[i].0.clone();
            window.release_date = Some(to_date(dates[i].1));
            window.slip_days = slip;
            slips.push(slip);
            report.met_late += 1;
        } else if window_end + grace < as_of {
            window.status = WindowStatus::Missed as i32;
            report.missed += 1;
        } else {
            window.status = WindowStatus::Pending as i32;
            report.pending += 1;
        }
        report.windows.push(window);
        cursor = next;
    }
    let resolved = report.met + report.met_late + report.missed;
    if resolved > 0 {
        report.on_time_rate = f64::from(report.met) / f64::from(resolved);
        report.kept_ratio = f64::from(report.met + report.met_late) / f64::from(resolved);
    }
    if !slips.is_empty() {
        report.mean_slip_days = f64::from(slips.iter().sum::<i32>()) / slips.len() as f64;
        report.max_slip_days = slips.iter().copied().max().unwrap_or(0);
    }
    let qualifying: Vec<NaiveDate> = dates
        .iter()
        .map(|(_, d)| *d)
        .filter(|d| *d >= start && *d <= as_of)
        .collect();
    report.longest_gap_days = qualifying
        .windows(2)
        .map(|w| (w[1] - w[0]).num_days() as i32)
        .max()
        .unwrap_or(0);
    report.current_streak = report
        .windows
        .iter()
        .rev()
        .filter(|w| w.status != WindowStatus::Pending as i32)
        .take_while(|w| {
            w.status == WindowStatus::Met as i32 || w.status == WindowStatus::MetLate as i32
        })
        .count() as i32;
    report
}

/// Counts per (domain, subdomain): (disclosed, indicators).
pub type Tally = BTreeMap<(String, String), (i32, i32)>;

/// Tallies indicators and the disclosed ones. `indicators` maps code →
/// (domain, subdomain); `latest` maps code → disclosed?.
pub fn tally(
    indicators: &HashMap<String, (String, String)>,
    latest: &HashMap<String, bool>,
) -> Tally {
    let mut tally = Tally::new();
    for (code, (domain, subdomain)) in indicators {
        let entry = tally
            .entry((domain.clone(), subdomain.clone()))
            .or_default();
        entry.1 += 1;
        if latest.get(code).copied().unwrap_or(false) {
            entry.0 += 1;
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn competition_ranks_share_ties_and_skip() {
        assert_eq!(
            competition_ranks(&[90.0, 85.0, 85.0, 80.0]),
            vec![(1, false), (2, true), (2, true), (4, false)]
        );
        assert_eq!(competition_ranks(&[]), vec![]);
    }

    #[test]
    fn settings_keys_are_canonical() {
        assert_eq!(settings_key(None), "default");
        assert_eq!(
            settings_key(Some(&EvaluationSettings::default())),
            "default"
        );
        let five_shot = EvaluationSettings {
            shots: Some(5),
            ..Default::default()
        };
        assert_eq!(
            settings_key(Some(&five_shot)),
            "shots=5;cot=-;tools=-;pass@k=-;harness=-;judge=-"
        );
    }

    #[test]
    fn a_commitment_from_year_one_is_scored_on_its_most_recent_windows_only() {
        let date = |y, m, d| frontierwatch_proto::v1::Date {
            year: y,
            month: m,
            day: d,
        };
        for period in [CommitmentPeriod::Weekly, CommitmentPeriod::Yearly] {
            let commitment = Commitment {
                name: "commitments/old".into(),
                period: period as i32,
                start_date: Some(date(1, 1, 1)),
                ..Default::default()
            };
            let as_of = NaiveDate::from_ymd_opt(2026, 6, 30).expect("date");
            let report = cadence(&commitment, &[], as_of);
            assert_eq!(report.windows.len(), MAX_WINDOWS as usize, "{period:?}");
            let last = report.windows.last().and_then(|w| w.end).expect("end");
            assert!(last.year >= 2026, "the most recent windows are kept");
        }
        // A recent start keeps every window.
        let commitment = Commitment {
            period: CommitmentPeriod::Monthly as i32,
            start_date: Some(date(2026, 1, 1)),
            ..Default::default()
        };
        let as_of = NaiveDate::from_ymd_opt(2026, 6, 30).expect("date");
        assert_eq!(cadence(&commitment, &[], as_of).windows.len(), 6);
    }
}
