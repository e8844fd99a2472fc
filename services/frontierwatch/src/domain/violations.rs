//! Field violations collected while validating a request (google.rpc.BadRequest).

use frontierwatch_proto::v1::{ApproximateDate, Date, Estimate, Provenance};

/// One offending field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, e.g. `release.provenance.sources[0].uri`.
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

/// The violations found in one request, each with its field path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations {
    prefix: String,
    list: Vec<FieldViolation>,
}

/// Longest accepted length for most strings, in characters.
pub const MAX_SHORT_STRING: usize = 1024;
/// Longest accepted length for free text (statements, descriptions).
pub const MAX_LONG_STRING: usize = 65_536;

impl Violations {
    /// Violations whose field paths start with `prefix` (the request field).
    pub fn under(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            list: Vec::new(),
        }
    }

    fn path(&self, field: &str) -> String {
        match (self.prefix.is_empty(), field.is_empty()) {
            (true, _) => field.to_owned(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}.{field}", self.prefix),
        }
    }

    /// Records a violation of `field` (relative to the prefix).
    pub fn add(&mut self, field: &str, description: impl Into<String>) {
        let field = self.path(field);
        self.list.push(FieldViolation {
            field,
            description: description.into(),
        });
    }

    /// Records a violation at an absolute field path.
    pub fn add_absolute(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.list.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The violations found.
    pub fn into_list(self) -> Vec<FieldViolation> {
        self.list
    }

    /// Ok when empty, otherwise the violations as an error.
    pub fn into_result(self) -> Result<(), crate::error::ApiError> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(crate::error::ApiError::InvalidArgument(self.list))
        }
    }

    /// A required string must be non-blank.
    pub fn require(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.add(field, "is required");
        }
    }

    /// A set string must be a resource name of the given kind.
    pub fn name_of(&mut self, field: &str, value: &str, kind: super::Kind) {
        if !value.is_empty() && !kind.is_valid_name(value) {
            self.add(
                field,
                format!("must be a resource name of the form {}", kind.pattern()),
            );
        }
    }

    /// A set URL must be http or https.
    pub fn url(&mut self, field: &str, value: &str) {
        let is_http = value.starts_with("https://") || value.starts_with("http://");
        if !value.is_empty() && !is_http {
            self.add(field, "must be an http or https URL");
        }
    }

    /// Aliases must be non-blank and distinct.
    pub fn aliases(&mut self, field: &str, aliases: &[String]) {
        for (i, alias) in aliases.iter().enumerate() {
            if alias.trim().is_empty() {
                self.add(&format!("{field}[{i}]"), "must not be blank");
            } else if aliases[..i].contains(alias) {
                self.add(&format!("{field}[{i}]"), "duplicates an earlier alias");
            }
        }
    }

    /// A set date must be a real calendar date (month or day may be 0 when unknown).
    pub fn date(&mut self, field: &str, date: Option<&Date>) {
        if let Some(d) = date
            && let Err(why) = check_date(d)
        {
            self.add(field, why);
        }
    }

    /// An approximate date's date must be valid.
    pub fn approximate_date(&mut self, field: &str, date: Option<&ApproximateDate>) {
        if let Some(d) = date {
            self.date(&format!("{field}.date"), d.date.as_ref());
        }
    }

    /// An estimate's bounds must enclose its value.
    pub fn estimate(&mut self, field: &str, estimate: Option<&Estimate>) {
        let Some(e) = estimate else { return };
        if !e.value.is_finite() || e.value < 0.0 {
            self.add(
                &format!("{field}.value"),
                "must be a finite non-negative number",
            );
        }
        if let Some(low) = e.low
            && (!low.is_finite() || low > e.value)
        {
            self.add(
                &format!("{field}.low"),
                "must be finite and not above value",
            );
        }
        if let Some(high) = e.high
            && (!high.is_finite() || high < e.value)
        {
            self.add(
                &format!("{field}.high"),
                "must be finite and not below value",
            );
        }
    }

    /// Fact-bearing resources need at least one source, each with a URL.
    pub fn provenance(&mut self, field: &str, provenance: Option<&Provenance>) {
        let sources = provenance.map(|p| p.sources.as_slice()).unwrap_or_default();
        if sources.is_empty() {
            self.add(
                &format!("{field}.sources"),
                "at least one source is required",
            );
        }
        for (i, source) in sources.iter().enumerate() {
            let path = format!("{field}.sources[{i}].uri");
            if source.uri.is_empty() {
                self.add(&path, "is required");
            } else {
                self.url(&path, &source.uri);
            }
            for (name, time) in [
                ("publish_time", &source.publish_time),
                ("retrieve_time", &source.retrieve_time),
            ] {
                if let Some(time) = time
                    && let Err(why) = check_timestamp(time)
                {
                    self.add(&format!("{field}.sources[{i}].{name}"), why);
                }
            }
        }
    }
}

/// Checks that a date is a real calendar date; 0 month or day means unknown.
pub fn check_date(d: &Date) -> Result<(), &'static str> {
    if !(1..=9999).contains(&d.year) {
        return Err("year must be between 1 and 9999");
    }
    if !(0..=12).contains(&d.month) {
        return Err("month must be between 1 and 12, or 0 when unknown");
    }
    if !(0..=31).contains(&d.day) {
        return Err("day must be between 1 and 31, or 0 when unknown");
    }
    if d.month == 0 && d.day != 0 {
        return Err("day must be 0 when month is 0");
    }
    if d.day != 0 && to_naive_date(d).is_none() {
        return Err("is not a calendar date");
    }
    Ok(())
}

/// Checks that a timestamp is one the JSON mapping can print: from
/// 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z, nanos in
/// [0, 999,999,999] (what google.protobuf.Timestamp documents).
pub fn check_timestamp(t: &prost_types::Timestamp) -> Result<(), &'static str> {
    const MIN_SECONDS: i64 = -62_135_596_800;
    const MAX_SECONDS: i64 = 253_402_300_799;
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&t.seconds) {
        return Err("must lie between the years 1 and 9999");
    }
    if !(0..=999_999_999).contains(&t.nanos) {
        return Err("nanos must be between 0 and 999999999");
    }
    Ok(())
}

/// The first day a (possibly partial) date can denote.
pub fn to_naive_date(d: &Date) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::from_ymd_opt(
        d.year,
        u32::try_from(d.month.max(1)).ok()?,
        u32::try_from(d.day.max(1)).ok()?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_days_and_out_of_range_timestamps_are_refused() {
        let date = |year, month, day| Date { year, month, day };
        assert!(check_date(&date(2025, 3, -1)).is_err());
        assert!(check_date(&date(2025, 3, i32::MIN)).is_err());
        assert!(check_date(&date(2025, 3, 32)).is_err());
        assert!(check_date(&date(2025, 2, 30)).is_err());
        assert!(check_date(&date(2025, 3, 0)).is_ok());
        assert!(check_date(&date(2025, 3, 31)).is_ok());
        let ts = |seconds, nanos| prost_types::Timestamp { seconds, nanos };
        assert!(check_timestamp(&ts(i64::MAX, 0)).is_err());
        assert!(check_timestamp(&ts(0, -1)).is_err());
        assert!(check_timestamp(&ts(-62_135_596_801, 0)).is_err());
        assert!(check_timestamp(&ts(1_700_000_000, 999_999_999)).is_ok());
    }
}
