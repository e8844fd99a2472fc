//! The alerts of the deployed side: an offering's prices change (new
//! terms take effect), and an offering's availability over the operator's
//! window falls below the operator's threshold.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use frontierwatch_proto::v1::{Alert, AlertKind, Offering, OfferingTerms, Price};
use prost::Message as _;

use super::evaluator::{count_raised, short_hash};
use crate::analytics::{self, OfferingReportQuery};
use crate::domain::market::effective;
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::analytics as queries;
use crate::storage::market as reads;

/// The operator's availability rule: alert below `threshold` over the
/// `window` that ends at each evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AvailabilityRule {
    pub threshold: f64,
    pub window: Duration,
}

fn both(terms: &OfferingTerms) -> (Option<&Price>, Option<&Price>) {
    (terms.input_price.as_ref(), terms.output_price.as_ref())
}

fn shown(price: Option<&Price>) -> String {
    price.map_or_else(String::new, |p| format!("{} {}", p.amount, p.currency_code))
}

/// A price change for each pair of consecutive terms of these offerings
/// whose prices differ and whose later terms have taken effect by
/// `today`, announced once per offering and effective date.
pub async fn price_changes(
    store: &Store,
    offerings: &[(String, Vec<u8>)],
    today: NaiveDate,
) -> Result<u64, ApiError> {
    let mut raised = 0;
    for (name, data) in offerings {
        let offering = Offering::decode(data.as_slice()).map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context("stored offering does not decode"))
        })?;
        for pair in offering.terms.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            let Some(day) = effective(after).filter(|d| *d <= today) else {
                continue;
            };
            if both(before) == both(after) {
                continue;
            }
            let key = format!("price-change|{name}|{day}");
            let alert = Alert {
                name: format!("alerts/price-{}", short_hash(&key)),
                kind: AlertKind::PriceChange as i32,
                subject: name.clone(),
                organization: offering.provider.clone(),
                release: offering.release.clone(),
                message: format!(
                    "{name} ({} by {}) costs {} per million input tokens and {} per million \
                     output tokens from {day}, was {} and {}",
                    offering.release,
                    offering.provider,
                    shown(after.input_price.as_ref()),
                    shown(after.output_price.as_ref()),
                    shown(before.input_price.as_ref()),
                    shown(before.output_price.as_ref()),
                ),
                ..Default::default()
            };
            if queries::raise_alert(store.pool(), &key, &alert).await? {
                count_raised(AlertKind::PriceChange);
                raised += 1;
            }
        }
    }
    Ok(raised)
}

/// Each offering's availability over the window ending now against the
/// rule: a drop below is announced once, and again after a recovery.
pub async fn availability_drops(
    store: &Store,
    offerings: &[String],
    rule: AvailabilityRule,
) -> Result<u64, ApiError> {
    let to = Utc::now();
    let from = to - chrono::Duration::from_std(rule.window).unwrap_or(chrono::Duration::days(1));
    let mut raised = 0;
    for offering in offerings {
        let query = OfferingReportQuery {
            subject: offering.clone(),
            from,
            to,
            conditions: Default::default(),
            breakdown: Default::default(),
        };
        let report = match analytics::offering_report(store, &query).await {
            Ok(report) => report,
            Err(ApiError::NotFound { .. }) => continue,
            Err(error) => return Err(error),
        };
        let Some(availability) = report.overall.and_then(|o| o.availability) else {
            continue;
        };
        let stored: Offering = match store.get(offering).await {
            Ok(o) => o,
            Err(ApiError::NotFound { .. }) => continue,
            Err(error) => return Err(error),
        };
        let below = availability < rule.threshold;
        let announce = |drops: i64| {
            let key = format!("availability-drop|{offering}|{drops}");
            let alert = Alert {
                name: format!("alerts/availability-{}", short_hash(&key)),
                kind: AlertKind::AvailabilityDrop as i32,
                subject: offering.clone(),
                organization: stored.provider.clone(),
                release: stored.release.clone(),
                score: availability,
                message: format!(
                    "{offering} was available {:.4} of the time over the {} hours to {}, \
                     below the threshold {}",
                    availability,
                    rule.window.as_secs_f64() / 3600.0,
                    to.format("%Y-%m-%dT%H:%M:%SZ"),
                    rule.threshold
                ),
                ..Default::default()
            };
            (key, alert)
        };
        if reads::record_availability(store.pool(), offering, below, announce).await? {
            count_raised(AlertKind::AvailabilityDrop);
            raised += 1;
        }
    }
    Ok(raised)
}
