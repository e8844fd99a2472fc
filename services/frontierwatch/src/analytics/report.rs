//! The offering report: an offering's (or a release's offerings')
//! measurements over a window, summarized per metric, per week and per
//! value of one condition.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike as _, Utc};
use frontierwatch_proto::v1::*;
use prost::Message as _;

use crate::domain::Kind;
use crate::domain::market::{normalized, to_time, to_timestamp, units_of};
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::market::{measurements_in, offerings_of};

/// How the report's figures are computed; in every answer and the docs.
pub const DEFINITION: &str = "Measurements count when their window ends in [window_start, \
    window_end). Values are converted to the metric's report unit (seconds, a fraction). \
    median and p90 are percentiles of the measurements' values with linear interpolation; \
    weighted_mean weighs each value by its sample count (1 when not stated). availability \
    is the sample-weighted mean of success rates, an error rate counting as one minus it. \
    Weeks run Monday to Sunday (UTC), by the day a measurement's window ends.";

/// A validated report question.
#[derive(Debug, Clone)]
pub struct OfferingReportQuery {
    /// An offering or a release.
    pub subject: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Each set field must match.
    pub conditions: MeasurementConditions,
    pub breakdown: ReportBreakdown,
}

pub async fn offering_report(
    store: &Store,
    q: &OfferingReportQuery,
) -> Result<OfferingReport, ApiError> {
    let offerings = if Kind::of_name(&q.subject) == Some(Kind::Offering) {
        store.get::<Offering>(&q.subject).await?;
        vec![q.subject.clone()]
    } else {
        store.get::<Release>(&q.subject).await?;
        offerings_of(store.pool(), std::slice::from_ref(&q.subject))
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    };
    let mut measurements = Vec::new();
    for data in measurements_in(store.pool(), &offerings, q.from, q.to).await? {
        let m = Measurement::decode(data.as_slice()).map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context("stored measurement does not decode"))
        })?;
        if matches(&q.conditions, m.conditions.as_ref()) {
            measurements.push(m);
        }
    }
    let mut weeks: BTreeMap<chrono::NaiveDate, Vec<&Measurement>> = BTreeMap::new();
    let mut groups: BTreeMap<(i64, String), Vec<&Measurement>> = BTreeMap::new();
    for m in &measurements {
        if let Some(day) = m
            .window_end
            .as_ref()
            .and_then(to_time)
            .map(|t| t.date_naive())
        {
            let monday = day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()));
            weeks.entry(monday).or_default().push(m);
        }
        groups.entry(group_of(q.breakdown, m)).or_default().push(m);
    }
    let all: Vec<&Measurement> = measurements.iter().collect();
    Ok(OfferingReport {
        subject: q.subject.clone(),
        offerings,
        window_start: Some(to_timestamp(q.from)),
        window_end: Some(to_timestamp(q.to)),
        overall: Some(summarize(String::new(), &all)),
        weekly: weeks
            .into_iter()
            .map(|(monday, ms)| summarize(monday.to_string(), &ms))
            .collect(),
        breakdown: groups
            .into_iter()
            .map(|((_, group), ms)| summarize(group, &ms))
            .collect(),
        definition: DEFINITION.to_owned(),
    })
}

/// Whether a measurement's conditions match every condition asked for.
fn matches(asked: &MeasurementConditions, have: Option<&MeasurementConditions>) -> bool {
    let default = MeasurementConditions::default();
    let have = have.unwrap_or(&default);
    (asked.region.is_empty() || asked.region == have.region)
        && (asked.network == 0 || asked.network == have.network)
        && (asked.prompt_size == 0 || asked.prompt_size == have.prompt_size)
        && (asked.concurrency == 0 || asked.concurrency == have.concurrency)
}

/// The breakdown's group of a measurement: an order and a label.
fn group_of(breakdown: ReportBreakdown, m: &Measurement) -> (i64, String) {
    let c = m.conditions.clone().unwrap_or_default();
    let enumerated = |value: i32, name: Option<&'static str>| {
        (i64::from(value), name.unwrap_or("UNKNOWN").to_owned())
    };
    match breakdown {
        ReportBreakdown::Unspecified | ReportBreakdown::Network => enumerated(
            c.network,
            Network::try_from(c.network).ok().map(|n| n.as_str_name()),
        ),
        ReportBreakdown::PromptSize => enumerated(
            c.prompt_size,
            PromptSize::try_from(c.prompt_size)
                .ok()
                .map(|p| p.as_str_name()),
        ),
        ReportBreakdown::Region => (0, c.region),
        ReportBreakdown::Concurrency => (i64::from(c.concurrency), c.concurrency.to_string()),
        ReportBreakdown::Offering => (0, m.offering.clone()),
    }
}

/// One group's figures.
fn summarize(group: String, measurements: &[&Measurement]) -> MeasurementSummary {
    let mut by_metric: BTreeMap<i32, Vec<(f64, i64)>> = BTreeMap::new();
    let (mut up, mut weight) = (0.0, 0i64);
    for m in measurements {
        let unit = MeasurementUnit::try_from(m.unit).unwrap_or_default();
        let value = normalized(m.value, unit);
        let samples = m.sample_count.unwrap_or(1);
        by_metric
            .entry(m.metric)
            .or_default()
            .push((value, samples));
        match MeasurementMetric::try_from(m.metric) {
            Ok(MeasurementMetric::SuccessRate) => {
                up += value * samples as f64;
                weight += samples;
            }
            Ok(MeasurementMetric::ErrorRate) => {
                up += (1.0 - value) * samples as f64;
                weight += samples;
            }
            _ => {}
        }
    }
    let metrics = by_metric
        .into_iter()
        .map(|(metric, mut values)| {
            values.sort_by(|a, b| a.0.total_cmp(&b.0));
            let samples: i64 = values.iter().map(|v| v.1).sum();
            let weighted = values.iter().map(|v| v.0 * v.1 as f64).sum::<f64>() / samples as f64;
            let unit = MeasurementMetric::try_from(metric)
                .ok()
                .and_then(|m| units_of(m).first().copied())
                .unwrap_or_default();
            let sorted: Vec<f64> = values.iter().map(|v| v.0).collect();
            MetricSummary {
                metric,
                unit: unit as i32,
                measurements: sorted.len() as i64,
                samples,
                median: percentile(&sorted, 0.5),
                p90: percentile(&sorted, 0.9),
                weighted_mean: weighted,
            }
        })
        .collect();
    MeasurementSummary {
        group,
        metrics,
        availability: (weight > 0).then(|| up / weight as f64),
    }
}

/// The `p` percentile of sorted values, interpolated linearly (as
/// PostgreSQL's percentile_cont); 0 for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return 0.0;
    };
    let at = p * last as f64;
    let (low, high) = (at.floor() as usize, at.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (at - low as f64)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_interpolate_like_percentile_cont() {
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[3.0], 0.9), 3.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert!(
            (percentile(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) - 9.1).abs()
                < 1e-12
        );
    }
}
