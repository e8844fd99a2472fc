//! Offerings and measurements: the rules of the two kinds, exact prices,
//! the terms in effect on a date, and the units measurements share.

use chrono::NaiveDate;
use frontierwatch_proto::v1::{
    Measurement, MeasurementMetric, MeasurementUnit, Offering, OfferingTerms, Price,
};

use super::common::{enum_name, meta_accessors, refs_of, some};
use super::violations::{check_timestamp, to_naive_date};
use super::{Index, Kind, Ref, Resource, Violations};

/// An exact amount in billionths of a unit (as google.type.Money's nanos):
/// prices are never floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub i128);

const NANOS: i128 = 1_000_000_000;

impl Amount {
    /// Parses a decimal: digits with at most one point and at most nine
    /// digits after it; no sign, no exponent.
    pub fn parse(text: &str) -> Result<Amount, &'static str> {
        const WHY: &str = "must be a decimal number such as 2.50: digits, at most one point, \
                           at most 9 decimal places, no sign or exponent";
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && fraction.is_empty()
            || !digits(whole)
            || !digits(fraction)
            || fraction.len() > 9
            || whole.len() > 18
        {
            return Err(WHY);
        }
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| WHY)?
        };
        let mut nanos: i128 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| WHY)?
        };
        for _ in fraction.len()..9 {
            nanos *= 10;
        }
        Ok(Amount(whole * NANOS + nanos))
    }

    /// The weighted mean of two amounts, rounded half to even to 1e-9.
    pub fn blend(a: Amount, wa: u32, b: Amount, wb: u32) -> Amount {
        let total = i128::from(wa) + i128::from(wb);
        let sum = a.0 * i128::from(wa) + b.0 * i128::from(wb);
        let (q, r) = (sum / total, sum % total);
        let up = 2 * r > total || (2 * r == total && q % 2 == 1);
        Amount(q + i128::from(up))
    }
}

impl std::fmt::Display for Amount {
    /// The shortest decimal: `3`, `2.5`, `0.075`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (whole, nanos) = (self.0 / NANOS, self.0 % NANOS);
        if nanos == 0 {
            return write!(f, "{whole}");
        }
        let fraction = format!("{nanos:09}");
        write!(f, "{whole}.{}", fraction.trim_end_matches('0'))
    }
}

/// A timestamp as a time, when it is one.
pub fn to_time(t: &prost_types::Timestamp) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

/// A time as a timestamp.
pub fn to_timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Whether `code` has the shape of an ISO 4217 currency code (`USD`).
pub fn is_currency(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// A price's amount, if it is one.
pub fn amount(price: Option<&Price>) -> Option<Amount> {
    price.and_then(|p| Amount::parse(&p.amount).ok())
}

/// A price of `amount` in `currency`.
pub fn price(amount: Amount, currency: &str) -> Price {
    Price {
        amount: amount.to_string(),
        currency_code: currency.to_owned(),
    }
}

fn check_price(v: &mut Violations, field: &str, price: Option<&Price>) {
    let Some(price) = price else {
        v.add(field, "is required");
        return;
    };
    if let Err(why) = Amount::parse(&price.amount) {
        v.add(&format!("{field}.amount"), why);
    }
    if !is_currency(&price.currency_code) {
        v.add(
            &format!("{field}.currency_code"),
            "must be an ISO 4217 code such as USD",
        );
    }
}

/// The terms in effect on `day`: the last whose effective date is on or
/// before it (terms are kept in date order).
pub fn terms_on(offering: &Offering, day: NaiveDate) -> Option<&OfferingTerms> {
    offering
        .terms
        .iter()
        .rev()
        .find(|t| effective(t).is_some_and(|d| d <= day))
}

/// The first day terms apply.
pub fn effective(terms: &OfferingTerms) -> Option<NaiveDate> {
    terms.effective_date.as_ref().and_then(to_naive_date)
}

/// Whether an offering can be used on `day`: available by then and not
/// yet deprecated.
pub fn serves_on(offering: &Offering, day: NaiveDate) -> bool {
    let date = |d: &Option<frontierwatch_proto::v1::Date>| d.as_ref().and_then(to_naive_date);
    date(&offering.available_date).is_none_or(|d| d <= day)
        && date(&offering.deprecated_date).is_none_or(|d| d > day)
}

impl Resource for Offering {
    const KIND: Kind = Kind::Offering;
    const FIELD: &'static str = "offering";
    const IMMUTABLE: &'static [&'static str] = &["release", "provider"];
    meta_accessors!();

    fn validate(&self, v: &mut Violations) {
        v.require("release", &self.release);
        v.name_of("release", &self.release, Kind::Release);
        v.require("provider", &self.provider);
        v.name_of("provider", &self.provider, Kind::Organization);
        if self.terms.is_empty() {
            v.add("terms", "at least one set of terms is required");
        }
        let mut previous: Option<NaiveDate> = None;
        for (i, terms) in self.terms.iter().enumerate() {
            let field = |f: &str| format!("terms[{i}].{f}");
            match &terms.effective_date {
                None => v.add(&field("effective_date"), "is required"),
                Some(d) if d.day == 0 || d.month == 0 => {
                    v.add(&field("effective_date"), "must be a full date")
                }
                Some(d) => v.date(&field("effective_date"), Some(d)),
            }
            let day = effective(terms);
            if let (Some(before), Some(day)) = (previous, day)
                && day <= before
            {
                v.add(
                    &field("effective_date"),
                    "must be after the effective date of the terms before it",
                );
            }
            previous = day.or(previous);
            check_price(v, &field("input_price"), terms.input_price.as_ref());
            check_price(v, &field("output_price"), terms.output_price.as_ref());
            if let (Some(input), Some(output)) = (&terms.input_price, &terms.output_price)
                && input.currency_code != output.currency_code
            {
                v.add(
                    &field("output_price.currency_code"),
                    "must be the input price's currency",
                );
            }
            for (name, value) in [
                ("context_window", terms.context_window),
                ("max_output_tokens", terms.max_output_tokens),
            ] {
                if value < 0 {
                    v.add(&field(name), "must not be negative");
                }
            }
            if terms.provenance.is_some() {
                v.provenance(&field("provenance"), terms.provenance.as_ref());
            }
        }
        for (i, region) in self.regions.iter().enumerate() {
            v.require(&format!("regions[{i}]"), region);
        }
        v.date("available_date", self.available_date.as_ref());
        v.date("deprecated_date", self.deprecated_date.as_ref());
        let date = |d: &Option<frontierwatch_proto::v1::Date>| d.as_ref().and_then(to_naive_date);
        if let (Some(from), Some(to)) = (date(&self.available_date), date(&self.deprecated_date))
            && to < from
        {
            v.add("deprecated_date", "must not be before available_date");
        }
        v.provenance("provenance", self.provenance.as_ref());
    }

    fn refs(&self) -> Vec<Ref> {
        let mut refs = refs_of("release", std::slice::from_ref(&self.release));
        refs.extend(refs_of("provider", std::slice::from_ref(&self.provider)));
        refs
    }

    fn index(&self) -> Index {
        Index {
            release: some(&self.release),
            provider: some(&self.provider),
            ..Index::default()
        }
    }
}

/// The units a metric may be stated in; the first is the one reports use.
pub fn units_of(metric: MeasurementMetric) -> &'static [MeasurementUnit] {
    use MeasurementUnit as U;
    match metric {
        MeasurementMetric::Unspecified => &[],
        MeasurementMetric::OutputTokensPerSecond => &[U::TokensPerSecond],
        MeasurementMetric::TimeToFirstToken | MeasurementMetric::EndToEndLatency => {
            &[U::Seconds, U::Milliseconds]
        }
        MeasurementMetric::SuccessRate | MeasurementMetric::ErrorRate => &[U::Fraction, U::Percent],
    }
}

/// A value in its metric's report unit (seconds, a fraction).
pub fn normalized(value: f64, unit: MeasurementUnit) -> f64 {
    match unit {
        MeasurementUnit::Milliseconds => value / 1000.0,
        MeasurementUnit::Percent => value / 100.0,
        _ => value,
    }
}

impl Resource for Measurement {
    const KIND: Kind = Kind::Measurement;
    const FIELD: &'static str = "measurement";
    const IMMUTABLE: &'static [&'static str] = &["offering"];
    meta_accessors!();

    fn validate(&self, v: &mut Violations) {
        v.require("offering", &self.offering);
        v.name_of("offering", &self.offering, Kind::Offering);
        let metric = MeasurementMetric::try_from(self.metric).unwrap_or_default();
        let unit = MeasurementUnit::try_from(self.unit).unwrap_or_default();
        if metric == MeasurementMetric::Unspecified {
            v.add("metric", "is required");
        }
        if unit == MeasurementUnit::Unspecified {
            v.add("unit", "is required");
        } else if metric != MeasurementMetric::Unspecified && !units_of(metric).contains(&unit) {
            let names: Vec<&str> = units_of(metric).iter().map(|u| u.as_str_name()).collect();
            v.add(
                "unit",
                format!(
                    "must be one of {} for {}",
                    names.join(", "),
                    metric.as_str_name()
                ),
            );
        }
        let high = match unit {
            MeasurementUnit::Fraction => 1.0,
            MeasurementUnit::Percent => 100.0,
            _ => f64::INFINITY,
        };
        if !(self.value.is_finite() && (0.0..=high).contains(&self.value)) {
            v.add(
                "value",
                match high {
                    1.0 => "must be a fraction in [0, 1]",
                    100.0 => "must be a percentage in [0, 100]",
                    _ => "must be a finite non-negative number",
                },
            );
        }
        for (field, time) in [
            ("window_start", &self.window_start),
            ("window_end", &self.window_end),
        ] {
            match time {
                None => v.add(field, "is required"),
                Some(t) => {
                    if let Err(why) = check_timestamp(t) {
                        v.add(field, why);
                    }
                }
            }
        }
        if let (Some(start), Some(end)) = (&self.window_start, &self.window_end)
            && (end.seconds, end.nanos) < (start.seconds, start.nanos)
        {
            v.add("window_end", "must not be before window_start");
        }
        if self.sample_count.is_some_and(|n| n < 1) {
            v.add(
                "sample_count",
                "must be at least 1 (leave it unset when not stated)",
            );
        }
        if let Some(c) = &self.conditions
            && c.concurrency < 0
        {
            v.add("conditions.concurrency", "must not be negative");
        }
        v.name_of("measured_by", &self.measured_by, Kind::Organization);
        v.provenance("provenance", self.provenance.as_ref());
    }

    fn refs(&self) -> Vec<Ref> {
        let mut refs = refs_of("offering", std::slice::from_ref(&self.offering));
        refs.extend(refs_of(
            "measured_by",
            std::slice::from_ref(&self.measured_by),
        ));
        refs
    }

    fn index(&self) -> Index {
        Index {
            offering: some(&self.offering),
            metric: enum_name(self.metric, MeasurementMetric::as_str_name),
            window_end: self.window_end.as_ref().and_then(to_time),
            ..Index::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_decimals() {
        assert_eq!(Amount::parse("2.50").unwrap().to_string(), "2.5");
        assert_eq!(Amount::parse("0.075").unwrap(), Amount(75_000_000));
        assert_eq!(Amount::parse("3").unwrap().to_string(), "3");
        assert_eq!(Amount::parse(".5").unwrap().to_string(), "0.5");
        for bad in [
            "",
            ".",
            "-1",
            "1e3",
            "1.2.3",
            "1,5",
            "0.0000000001",
            " 1",
            "NaN",
        ] {
            assert!(Amount::parse(bad).is_err(), "{bad:?} parsed");
        }
        // 3:1 of 3 and 15 is 6; of 0.1 and 0.2 exactly 0.125.
        let p = |s| Amount::parse(s).unwrap();
        assert_eq!(Amount::blend(p("3"), 3, p("15"), 1).to_string(), "6");
        assert_eq!(Amount::blend(p("0.1"), 3, p("0.2"), 1).to_string(), "0.125");
        // Rounded half to even at the ninth place.
        assert_eq!(Amount::blend(Amount(1), 1, Amount(0), 1), Amount(0));
        assert_eq!(Amount::blend(Amount(3), 1, Amount(0), 1), Amount(2));
    }
}
