//! GetOfferingTerms, GetPriceFrontier and GetOfferingReport validated into
//! the analytics layer's questions.

use chrono::Utc;
use frontierwatch_proto::v1::*;

use super::analytics::{Counted, as_of, required_name};
use crate::analytics::LeaderboardQuery;
use crate::analytics::{self, Blend, OfferingReportQuery, PriceFrontierQuery, today_or};
use crate::domain::market::{is_currency, terms_on, to_time};
use crate::domain::violations::check_timestamp;
use crate::domain::{Kind, Violations};
use crate::error::ApiError;
use crate::storage::Store;

pub async fn terms(store: &Store, r: GetOfferingTermsRequest) -> Result<OfferingTerms, ApiError> {
    let mut v = Violations::default();
    required_name(&mut v, "offering", &r.offering, Kind::Offering);
    let day = as_of("date", r.date.as_ref(), &mut v);
    v.into_result()?;
    let day = today_or(day);
    let offering: Offering = store.get(&r.offering).await?;
    terms_on(&offering, day)
        .cloned()
        .ok_or_else(|| ApiError::NotFound {
            name: format!("terms of {} on {day}", r.offering),
        })
}

pub async fn price_frontier(
    store: &Store,
    r: GetPriceFrontierRequest,
) -> Result<PriceFrontier, ApiError> {
    let mut v = Violations::default();
    required_name(&mut v, "benchmark", &r.benchmark, Kind::Benchmark);
    let filter = Counted {
        as_of: r.as_of.as_ref(),
        evaluators: r.evaluators,
        include_disputed: r.include_disputed,
        access: r.access,
    }
    .filter(&mut v);
    if r.settings_key.len() > 1024 {
        v.add("settings_key", "must be at most 1024 characters");
    }
    let currency = if r.currency_code.is_empty() {
        "USD".to_owned()
    } else {
        r.currency_code.clone()
    };
    if !is_currency(&currency) {
        v.add("currency_code", "must be an ISO 4217 code such as USD");
    }
    let blend = match (r.input_weight, r.output_weight) {
        (0, 0) => Blend::default(),
        (input, output) if input > 1000 || output > 1000 => {
            v.add("input_weight", "the weights must be at most 1000 each");
            Blend::default()
        }
        (input, output) => Blend {
            input,
            output,
            currency: String::new(),
        },
    };
    v.into_result()?;
    let query = PriceFrontierQuery {
        board: LeaderboardQuery {
            benchmark: r.benchmark,
            filter,
            grouping: LeaderboardGrouping::Unspecified,
            limit: 1000,
        },
        settings_key: (!r.settings_key.is_empty()).then_some(r.settings_key),
        blend: Blend { currency, ..blend },
    };
    analytics::price_frontier(store, &query).await
}

/// The default window: the 28 days before its end.
const DEFAULT_WINDOW_DAYS: i64 = 28;

pub async fn offering_report(
    store: &Store,
    r: GetOfferingReportRequest,
) -> Result<OfferingReport, ApiError> {
    let mut v = Violations::default();
    if r.subject.is_empty() {
        v.add("subject", "is required");
    } else if !matches!(
        Kind::of_name(&r.subject),
        Some(Kind::Offering | Kind::Release)
    ) || !Kind::of_name(&r.subject).is_some_and(|k| k.is_valid_name(&r.subject))
    {
        v.add(
            "subject",
            format!(
                "must name an offering ({}) or a release ({})",
                Kind::Offering.pattern(),
                Kind::Release.pattern()
            ),
        );
    }
    let time = |field: &str, t: Option<&prost_types::Timestamp>, v: &mut Violations| {
        let t = t?;
        match check_timestamp(t) {
            Ok(()) => to_time(t),
            Err(why) => {
                v.add(field, why);
                None
            }
        }
    };
    let to = time("window_end", r.window_end.as_ref(), &mut v).unwrap_or_else(Utc::now);
    let from = time("window_start", r.window_start.as_ref(), &mut v)
        .unwrap_or(to - chrono::Duration::days(DEFAULT_WINDOW_DAYS));
    if from > to {
        v.add("window_end", "must not be before window_start");
    }
    let conditions = r.conditions.unwrap_or_default();
    if conditions.concurrency < 0 {
        v.add("conditions.concurrency", "must not be negative");
    }
    let breakdown = ReportBreakdown::try_from(r.breakdown).unwrap_or_else(|_| {
        v.add("breakdown", format!("{} is not a known value", r.breakdown));
        ReportBreakdown::Unspecified
    });
    v.into_result()?;
    let query = OfferingReportQuery {
        subject: r.subject,
        from,
        to,
        conditions,
        breakdown,
    };
    analytics::offering_report(store, &query).await
}
