//! List queries: filter conditions over the index columns, and AIP-158 page
//! tokens bound to the query that produced them.
//!
//! A token is the last name of the page and an HMAC-SHA256 over the kind,
//! a canonical encoding of the query and that name, under a key shared by
//! every replica (stored in the database), so a token from one replica
//! works on another built by another compiler, and a truncated or edited
//! token is refused instead of moving the cursor.

use chrono::NaiveDate;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use sqlx::{Postgres, QueryBuilder};

use crate::domain::Kind;
use crate::error::ApiError;

/// An index column a condition can test for equality (see
/// `domain::index`: each holds one field of one kind, or the same field of
/// several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Model,
    Release,
    Benchmark,
    ParentOrganization,
    OrganizationKind,
    Country,
    Stage,
    BenchmarkCategory,
    Verification,
    Subject,
    DisclosureCategory,
    DisclosureStatus,
    IndicatorIndex,
    IndicatorDomain,
    Publisher,
    CommittedBy,
    Provider,
    Offering,
    Metric,
}

impl Column {
    /// Every column, for tests that walk them.
    pub const ALL: [Column; 19] = [
        Column::Model,
        Column::Release,
        Column::Benchmark,
        Column::ParentOrganization,
        Column::OrganizationKind,
        Column::Country,
        Column::Stage,
        Column::BenchmarkCategory,
        Column::Verification,
        Column::Subject,
        Column::DisclosureCategory,
        Column::DisclosureStatus,
        Column::IndicatorIndex,
        Column::IndicatorDomain,
        Column::Publisher,
        Column::CommittedBy,
        Column::Provider,
        Column::Offering,
        Column::Metric,
    ];

    /// The column's name in `resources`.
    pub fn sql(self) -> &'static str {
        match self {
            Column::Model => "model",
            Column::Release => "release",
            Column::Benchmark => "benchmark",
            Column::ParentOrganization => "parent_organization",
            Column::OrganizationKind => "organization_kind",
            Column::Country => "country",
            Column::Stage => "stage",
            Column::BenchmarkCategory => "benchmark_category",
            Column::Verification => "verification",
            Column::Subject => "subject",
            Column::DisclosureCategory => "disclosure_category",
            Column::DisclosureStatus => "disclosure_status",
            Column::IndicatorIndex => "indicator_index",
            Column::IndicatorDomain => "indicator_domain",
            Column::Publisher => "publisher",
            Column::CommittedBy => "committed_by",
            Column::Provider => "provider",
            Column::Offering => "offering",
            Column::Metric => "metric",
        }
    }
}

/// A date column a range can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateColumn {
    ReleaseDate,
    PublishDate,
}

impl DateColumn {
    /// The column's name in `resources`.
    pub fn sql(self) -> &'static str {
        match self {
            DateColumn::ReleaseDate => "release_date",
            DateColumn::PublishDate => "publish_date",
        }
    }
}

/// One filter condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The column equals the value.
    Equals(Column, String),
    /// A model line's developers include the organization.
    HasDeveloper(String),
    /// The resource's model line is developed by the organization.
    ModelDevelopedBy(String),
    /// The resource's subject is the organization, or its model line is
    /// developed by it (disclosures about an organization or its models).
    OrganizationOrItsModels(String),
    /// The date column on or after.
    DateFrom(DateColumn, NaiveDate),
    /// The date column on or before.
    DateTo(DateColumn, NaiveDate),
}

/// A list query of one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

    /// The statement of one page: `kind` is `$1`, then `after` when given,
    /// then the conditions' values in order, then `limit`.
    ///
    /// The page is read in the order of the index that narrows it, never by
    /// walking the primary key. PostgreSQL drops from an ORDER BY every
    /// column an equality fixes, so `kind = $1 ... ORDER BY name` may be
    /// planned as a walk of the primary key filtered by kind, which is cheap
    /// only if rows of that kind come first: a list of organizations then
    /// reads every benchmark result (their names sort earlier) before its
    /// first row. So the narrowing column, the first equality filter or
    /// else `kind`, is compared as a closed range (the same rows: text
    /// comparison is deterministic) and stays in the ORDER BY, where only
    /// its index, on (kind, column, name) or (kind, name), serves it. That
    /// column is the index's first range column, so the scan also ends where
    /// its value does. Every filter is checked under a generic plan, and
    /// the unfiltered list against skewed data, by the EXPLAIN tests.
    pub fn statement(&self, kind: Kind, after: Option<&str>, limit: i64) -> QueryBuilder<Postgres> {
        // The first equality filter: its position, column and value.
        let lead = self
            .conditions
            .iter()
            .enumerate()
            .find_map(|(i, c)| match c {
                Condition::Equals(column, value) => Some((i, column.sql(), value)),
                _ => None,
            });
        let mut builder: QueryBuilder<Postgres> =
            QueryBuilder::new("SELECT name, data FROM resources WHERE kind ");
        if lead.is_some() {
            builder.push("= ");
            builder.push_bind(kind.field());
        } else {
            builder.push(">= ");
            builder.push_bind(kind.field());
            builder.push(" AND kind <= $1");
        }
        // The number of the next bound value, to name the lead's twice.
        let mut next = 2;
        if let Some(after) = after {
            builder.push(" AND name > ");
            builder.push_bind(after.to_owned());
            next += 1;
        }
        let order = match lead {
            Some((_, column, value)) => {
                builder.push(format!(" AND {column} >= "));
                builder.push_bind(value.clone());
                builder.push(format!(" AND {column} <= ${next}"));
                column
            }
            None => "kind",
        };
        for (i, condition) in self.conditions.iter().enumerate() {
            if lead.is_none_or(|(at, ..)| at != i) {
                push_condition(&mut builder, condition);
            }
        }
        builder.push(format!(" ORDER BY {order}, name LIMIT "));
        builder.push_bind(limit);
        builder
    }

    /// The query as bytes that mean the same on every build: each part
    /// length-prefixed, so that no two queries share an encoding.
    fn canonical(&self, kind: Kind) -> Vec<u8> {
        fn part(out: &mut Vec<u8>, text: &str) {
            out.extend_from_slice(&(text.len() as u64).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        let mut out = Vec::new();
        part(&mut out, kind.field());
        for condition in &self.conditions {
            match condition {
                Condition::Equals(column, value) => {
                    part(&mut out, "eq");
                    part(&mut out, column.sql());
                    part(&mut out, value);
                }
                Condition::HasDeveloper(org) => {
                    part(&mut out, "developer");
                    part(&mut out, org);
                }
                Condition::ModelDevelopedBy(org) => {
                    part(&mut out, "dev");
                    part(&mut out, org);
                }
                Condition::OrganizationOrItsModels(org) => {
                    part(&mut out, "org-or-dev");
                    part(&mut out, org);
                }
                Condition::DateFrom(column, date) => {
                    part(&mut out, "from");
                    part(&mut out, column.sql());
                    part(&mut out, &date.to_string());
                }
                Condition::DateTo(column, date) => {
                    part(&mut out, "to");
                    part(&mut out, column.sql());
                    part(&mut out, &date.to_string());
                }
            }
        }
        out
    }

    fn mac(&self, key: &PageTokenKey, kind: Kind, last_name: &str) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256>>::new_from_slice(&key.0).expect("HMAC takes a key of any length");
        let query = self.canonical(kind);
        mac.update(&(query.len() as u64).to_be_bytes());
        mac.update(&query);
        mac.update(last_name.as_bytes());
        mac
    }

    /// The token that continues this query after `last_name`.
    pub fn page_token(&self, key: &PageTokenKey, kind: Kind, last_name: &str) -> String {
        let tag = self.mac(key, kind, last_name).finalize().into_bytes();
        let mut token = hex(&tag[..TAG_BYTES]);
        token.push_str(&hex(last_name.as_bytes()));
        token
    }

    /// The last name of the previous page, from a token this query issued.
    pub fn resume_after(
        &self,
        key: &PageTokenKey,
        kind: Kind,
        token: &str,
    ) -> Result<Option<String>, ApiError> {
        if token.is_empty() {
            return Ok(None);
        }
        let bytes = unhex(token).ok_or_else(invalid_page_token)?;
        if bytes.len() < TAG_BYTES {
            return Err(invalid_page_token());
        }
        let (tag, name) = bytes.split_at(TAG_BYTES);
        let name = String::from_utf8(name.to_vec()).map_err(|_| invalid_page_token())?;
        self.mac(key, kind, &name)
            .verify_truncated_left(tag)
            .map_err(|_| invalid_page_token())?;
        Ok(Some(name))
    }
}

/// The answer to a page token that no previous call with the same
/// parameters returned.
pub fn invalid_page_token() -> ApiError {
    ApiError::invalid(
        "page_token",
        "is not a token returned by a previous call with the same parameters",
    )
}

/// Bytes of the HMAC kept in a token (128 bits).
const TAG_BYTES: usize = 16;

/// The key that authenticates page tokens, the same on every replica.
#[derive(Clone)]
pub struct PageTokenKey(pub Vec<u8>);

impl std::fmt::Debug for PageTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokenKey(..)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
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

/// Appends ` AND ...` for one condition, with bound parameters.
fn push_condition(builder: &mut QueryBuilder<Postgres>, condition: &Condition) {
    const MODELS_OF: &str =
        "model IN (SELECT name FROM resources WHERE kind = 'model' AND developers @> ARRAY[";
    match condition {
        Condition::Equals(column, value) => {
            builder.push(format!(" AND {} = ", column.sql()));
            builder.push_bind(value.clone());
        }
        Condition::HasDeveloper(org) => {
            // The kind named, for the partial index of developers.
            builder.push(" AND kind = 'model' AND developers @> ARRAY[");
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
            builder.push(" AND (subject = ");
            builder.push_bind(org.clone());
            builder.push(" OR ");
            builder.push(MODELS_OF);
            builder.push_bind(org.clone());
            builder.push("]::text[]))");
        }
        Condition::DateFrom(column, date) => {
            builder.push(format!(" AND {} >= ", column.sql()));
            builder.push_bind(*date);
        }
        Condition::DateTo(column, date) => {
            builder.push(format!(" AND {} <= ", column.sql()));
            builder.push_bind(*date);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_are_bound_to_their_query() {
        let key = PageTokenKey(b"k".repeat(32));
        let mut query = ListQuery::default();
        query.push(Condition::Equals(
            Column::BenchmarkCategory,
            "coding".into(),
        ));
        let token = query.page_token(&key, Kind::Benchmark, "benchmarks/mmlu");
        assert_eq!(
            query
                .resume_after(&key, Kind::Benchmark, &token)
                .unwrap()
                .as_deref(),
            Some("benchmarks/mmlu")
        );
        assert!(
            ListQuery::default()
                .resume_after(&key, Kind::Benchmark, &token)
                .is_err()
        );
        assert!(query.resume_after(&key, Kind::Model, &token).is_err());
        assert!(query.resume_after(&key, Kind::Benchmark, "zz").is_err());
        let other = PageTokenKey(b"x".repeat(32));
        assert!(query.resume_after(&other, Kind::Benchmark, &token).is_err());
    }

    #[test]
    fn a_truncated_or_edited_token_is_refused() {
        let key = PageTokenKey(b"k".repeat(32));
        let query = ListQuery::default();
        let token = query.page_token(&key, Kind::Organization, "organizations/mistral");
        for cut in [2, 4, 10, 40] {
            let truncated = &token[..token.len() - cut];
            assert!(
                query
                    .resume_after(&key, Kind::Organization, truncated)
                    .is_err()
            );
        }
        for i in (0..token.len()).step_by(3) {
            let mut edited = token.clone().into_bytes();
            edited[i] = if edited[i] == b'0' { b'1' } else { b'0' };
            let edited = String::from_utf8(edited).unwrap();
            assert!(
                query
                    .resume_after(&key, Kind::Organization, &edited)
                    .is_err(),
                "flipping digit {i} is detected"
            );
        }
    }
}
