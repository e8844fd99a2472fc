//! List queries: filter conditions over the index columns, and AIP-158 page
//! tokens bound to the query that produced them.

use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::NaiveDate;
use sqlx::{Postgres, QueryBuilder};

use crate::domain::Kind;
use crate::error::ApiError;

/// An index column a condition can test for equality.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Column {
    Model,
    Release,
    Benchmark,
    Category,
    Status,
    KindDetail,
    Country,
}

impl Column {
    fn sql(self) -> &'static str {
        match self {
            Column::Model => "model",
            Column::Release => "release",
            Column::Benchmark => "benchmark",
            Column::Category => "category",
            Column::Status => "status",
            Column::KindDetail => "kind_detail",
            Column::Country => "country",
        }
    }
}

/// One filter condition.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub enum Condition {
    /// The column equals the value.
    Equals(Column, String),
    /// `organizations` holds the organization.
    HasOrganization(String),
    /// The resource's model line is developed by the organization.
    ModelDevelopedBy(String),
    /// Either of the two above (disclosures about an organization or its models).
    OrganizationOrItsModels(String),
    /// `event_date` on or after.
    DateFrom(NaiveDate),
    /// `event_date` on or before.
    DateTo(NaiveDate),
}

/// A list query of one kind.
#[derive(Debug, Clone, Default, Hash, PartialEq, Eq)]
pub struct ListQuery {
    pub conditions: Vec<Condition>,
}

/// The default and maximum page sizes (AIP-158).
pub const DEFAULT_PAGE_SIZE: i32 = 50;
pub const MAX_PAGE_SIZE: i32 = 1000;

impl ListQuery {
    /// Adds a condition.
    pub fn push(&mut self, condition: Condition) {
        self.conditions.push(condition);
    }

    /// Appends ` AND ...` for every condition, with bound parameters.
    pub fn push_sql(&self, builder: &mut QueryBuilder<Postgres>) {
        const MODELS_OF: &str =
            "model IN (SELECT name FROM resources WHERE kind = 'model' AND organizations @> ARRAY[";
        for condition in &self.conditions {
            match condition {
                Condition::Equals(column, value) => {
                    builder.push(format!(" AND {} = ", column.sql()));
                    builder.push_bind(value.clone());
                }
                Condition::HasOrganization(org) => {
                    builder.push(" AND organizations @> ARRAY[");
                    builder.push_bind(org.clone());
                    builder.push("]::text[]");
                }
                Condition::ModelDevelopedBy(org) => {
                    builder.push(" AND ");
                    builder.push(MODELS_OF);
                    builder.push_bind(org.clone());
                    builder.push("]::text[])");
                }
                Condition::OrganizationOrItsModels(org) => {
                    builder.push(" AND (organizations @> ARRAY[");
                    builder.push_bind(org.clone());
                    builder.push("]::text[] OR ");
                    builder.push(MODELS_OF);
                    builder.push_bind(org.clone());
                    builder.push("]::text[]))");
                }
                Condition::DateFrom(date) => {
                    builder.push(" AND event_date >= ");
                    builder.push_bind(*date);
                }
                Condition::DateTo(date) => {
                    builder.push(" AND event_date <= ");
                    builder.push_bind(*date);
                }
            }
        }
    }

    fn fingerprint(&self, kind: Kind) -> u64 {
        let mut hasher = DefaultHasher::new();
        kind.field().hash(&mut hasher);
        self.hash(&mut hasher);
        hasher.finish()
    }

    /// The token that continues this query after `last_name`.
    pub fn page_token(&self, kind: Kind, last_name: &str) -> String {
        let mut token = format!("{:016x}", self.fingerprint(kind));
        for byte in last_name.as_bytes() {
            token.push_str(&format!("{byte:02x}"));
        }
        token
    }

    /// The last name of the previous page, from a token this query issued.
    pub fn resume_after(&self, kind: Kind, token: &str) -> Result<Option<String>, ApiError> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || {
            ApiError::invalid(
                "page_token",
                "is not a token returned by a previous call with the same parameters",
            )
        };
        if token.len() < 16 || !token.len().is_multiple_of(2) || !token.is_ascii() {
            return Err(invalid());
        }
        let (fingerprint, name_hex) = token.split_at(16);
        if fingerprint != format!("{:016x}", self.fingerprint(kind)) {
            return Err(invalid());
        }
        let bytes = (0..name_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&name_hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| invalid())?;
        String::from_utf8(bytes).map(Some).map_err(|_| invalid())
    }
}

/// Validates a requested page size: negative is invalid, 0 is the default,
/// larger than the maximum is capped.
pub fn page_size(requested: i32) -> Result<i64, ApiError> {
    match requested {
        n if n < 0 => Err(ApiError::invalid("page_size", "must not be negative")),
        0 => Ok(i64::from(DEFAULT_PAGE_SIZE)),
        n => Ok(i64::from(n.min(MAX_PAGE_SIZE))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_are_bound_to_their_query() {
        let mut query = ListQuery::default();
        query.push(Condition::Equals(Column::Category, "coding".into()));
        let token = query.page_token(Kind::Benchmark, "benchmarks/mmlu");
        assert_eq!(
            query
                .resume_after(Kind::Benchmark, &token)
                .unwrap()
                .as_deref(),
            Some("benchmarks/mmlu")
        );
        assert!(
            ListQuery::default()
                .resume_after(Kind::Benchmark, &token)
                .is_err()
        );
        assert!(query.resume_after(Kind::Model, &token).is_err());
        assert!(query.resume_after(Kind::Benchmark, "zz").is_err());
    }
}
