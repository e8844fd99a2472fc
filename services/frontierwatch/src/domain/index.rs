//! The columns stored beside each resource for lists, filters and
//! analytics to read. Each column holds one thing for every kind, and its
//! name says what: a kind fills the columns of its own fields and leaves
//! the others empty (NULL).
//!
//! Declared once: a field of [`Index`] and its row in [`COLUMNS`] (name, SQL
//! type, how to read it). The statements that write the columns are built
//! from [`COLUMNS`] (`storage::rows`); a new queryable field of one kind is
//! a field here, its row, the kind's `index()` filling it, and a migration
//! adding the column (with its index when lists filter on it). No other
//! kind's columns change.

use chrono::NaiveDate;

/// A resource's index columns. See the module documentation.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Index {
    /// The model line the resource belongs to or is about.
    pub model: Option<String>,
    /// A result's release.
    pub release: Option<String>,
    /// A result's benchmark.
    pub benchmark: Option<String>,
    /// An organization's parent organization.
    pub parent_organization: Option<String>,
    /// An organization's kind (`OrganizationKind` value name).
    pub organization_kind: Option<String>,
    /// An organization's country.
    pub country: Option<String>,
    /// A model line's developers.
    pub developers: Vec<String>,
    /// A release's lifecycle stage (`LifecycleStage` value name).
    pub stage: Option<String>,
    /// A release's release date.
    pub release_date: Option<NaiveDate>,
    /// A benchmark's category.
    pub benchmark_category: Option<String>,
    /// A result's evaluator organization.
    pub evaluator: Option<String>,
    /// A result's verification status (`VerificationStatus` value name).
    pub verification: Option<String>,
    /// A result's or a disclosure's publish date.
    pub publish_date: Option<NaiveDate>,
    /// A result's score.
    pub score: Option<f64>,
    /// A result's comparability key (`analytics::settings_key`).
    pub settings_key: Option<String>,
    /// A result's evaluator relation (`EvaluatorRelation` value name).
    pub relation: Option<String>,
    /// A disclosure's subject: an organization, a model line or a release.
    pub subject: Option<String>,
    /// A disclosure's category (`DisclosureCategory` value name).
    pub disclosure_category: Option<String>,
    /// A disclosure's status (`DisclosureStatus` value name).
    pub disclosure_status: Option<String>,
    /// An indicator's transparency index: its edition's name, or the index
    /// as text for indicators stored before editions were resources.
    pub indicator_index: Option<String>,
    /// An indicator's domain.
    pub indicator_domain: Option<String>,
    /// An indicator's subdomain.
    pub indicator_subdomain: Option<String>,
    /// A transparency index edition's publisher.
    pub publisher: Option<String>,
    /// A transparency index edition's date.
    pub edition_date: Option<NaiveDate>,
    /// The organization that made a commitment.
    pub committed_by: Option<String>,
    /// A release's weights: `open` when its access includes open weights,
    /// `closed` when its access is stated without them, `unstated`
    /// (migration 17).
    pub weights: Option<String>,
    pub provider: Option<String>,
    pub offering: Option<String>,
    pub metric: Option<String>,
    pub window_end: Option<chrono::DateTime<chrono::Utc>>,
}

/// How a column is read from an [`Index`], by its SQL type.
#[derive(Clone, Copy)]
pub enum Value {
    Text(fn(&Index) -> Option<&str>),
    /// A `text[]` column.
    Texts(fn(&Index) -> &[String]),
    Date(fn(&Index) -> Option<NaiveDate>),
    Float(fn(&Index) -> Option<f64>),
    Time(fn(&Index) -> Option<chrono::DateTime<chrono::Utc>>),
}

impl Value {
    /// The SQL type of the column (of its elements, for `text[]`).
    pub fn sql_type(self) -> &'static str {
        match self {
            Value::Text(_) | Value::Texts(_) => "text",
            Value::Date(_) => "date",
            Value::Float(_) => "float8",
            Value::Time(_) => "timestamptz",
        }
    }
}

/// One index column: its name in `resources` and how to read it.
#[derive(Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub value: Value,
}

macro_rules! columns {
    ($($field:ident: $type:ident),* $(,)?) => {
        /// Every index column, in the order the writes bind them.
        pub const COLUMNS: &[Column] = &[$(Column {
            name: stringify!($field),
            value: columns!(@ $type $field),
        }),*];
    };
    (@ text $field:ident) => { Value::Text(|i| i.$field.as_deref()) };
    (@ texts $field:ident) => { Value::Texts(|i| &i.$field) };
    (@ date $field:ident) => { Value::Date(|i| i.$field) };
    (@ float $field:ident) => { Value::Float(|i| i.$field) };
    (@ time $field:ident) => { Value::Time(|i| i.$field) };
}

columns! {
    model: text,
    release: text,
    benchmark: text,
    parent_organization: text,
    organization_kind: text,
    country: text,
    developers: texts,
    stage: text,
    release_date: date,
    benchmark_category: text,
    evaluator: text,
    verification: text,
    publish_date: date,
    score: float,
    settings_key: text,
    relation: text,
    subject: text,
    disclosure_category: text,
    disclosure_status: text,
    indicator_index: text,
    indicator_domain: text,
    indicator_subdomain: text,
    publisher: text,
    edition_date: date,
    committed_by: text,
    weights: text,
    provider: text,
    offering: text,
    metric: text,
    window_end: time,
}

impl Index {
    /// The organizations a watch filtered by organization matches the
    /// resource by (the organization itself is added by its name, and a
    /// model line's developers by the change log).
    pub fn organizations(&self) -> Vec<String> {
        let subject_organization = self
            .subject
            .as_ref()
            .filter(|s| s.starts_with("organizations/"));
        self.parent_organization
            .iter()
            .chain(&self.developers)
            .chain(&self.evaluator)
            .chain(subject_organization)
            .chain(&self.committed_by)
            .cloned()
            .collect()
    }

    /// The columns the previous release reads, each of which held a
    /// different field by kind (`organizations`, `category`, `status`,
    /// `kind_detail`, `event_date`). Written beside the typed columns while
    /// a replica of that release may run (expand, then contract: see
    /// migration 15); a later release stops writing them and drops them.
    pub fn legacy(&self) -> Legacy {
        Legacy {
            organizations: self.organizations(),
            category: self
                .benchmark_category
                .clone()
                .or_else(|| self.disclosure_category.clone())
                .or_else(|| self.indicator_domain.clone()),
            status: self
                .stage
                .clone()
                .or_else(|| self.verification.clone())
                .or_else(|| self.disclosure_status.clone())
                .or_else(|| self.indicator_subdomain.clone()),
            kind_detail: self
                .organization_kind
                .clone()
                .or_else(|| self.subject.clone())
                .or_else(|| self.indicator_index.clone())
                .or_else(|| self.publisher.clone()),
            event_date: self
                .release_date
                .or(self.publish_date)
                .or(self.edition_date),
        }
    }
}

/// The previous release's columns (see [`Index::legacy`]).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Legacy {
    pub organizations: Vec<String>,
    pub category: Option<String>,
    pub status: Option<String>,
    pub kind_detail: Option<String>,
    pub event_date: Option<NaiveDate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_a_column_once() {
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "a column declared twice");
        // Index's Debug output names every field: each must be a column.
        let debug = format!("{:?}", Index::default());
        let fields = debug.matches(": ").count();
        assert_eq!(
            fields, count,
            "a field of Index without its column: {debug}"
        );
    }
}
