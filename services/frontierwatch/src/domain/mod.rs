//! The domain: the kinds of resource, what each references, how each is
//! indexed for filtering, and the rules a valid resource obeys.

pub mod analytics;
pub mod claims;
mod common;
pub mod index;
pub mod kinds;
pub mod market;
pub mod mask;
pub mod names;
pub mod progress;
pub mod reflect;
pub mod violations;
pub use frontierwatch_proto::wire;

pub use index::Index;
pub use names::Kind;
pub use violations::Violations;

/// A reference from one resource to another; the schema refuses dangling ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// The referencing field, e.g. `developers`.
    pub field: &'static str,
    /// The referenced resource's name.
    pub name: String,
}

/// Output-only metadata every resource carries.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub name: String,
    pub create_time: Option<prost_types::Timestamp>,
    pub update_time: Option<prost_types::Timestamp>,
    pub etag: String,
}

/// A score a resource places on a benchmark's scale; checked against the
/// benchmark inside the writing transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreClaim {
    /// The benchmark's name.
    pub benchmark: String,
    /// Field path and value of each score that must lie on the scale.
    pub values: Vec<(&'static str, f64)>,
}

impl ScoreClaim {
    /// A field violation under `under` (the resource's field) for each
    /// value outside the benchmark's `scale`.
    pub fn check(&self, under: &str, scale: &Scale) -> Result<(), crate::error::ApiError> {
        let mut violations = Violations::under(under);
        for &(field, value) in &self.values {
            if !scale.contains(value) {
                violations.add(
                    field,
                    format!(
                        "{value} is outside the scale of {}: must be {}",
                        self.benchmark, scale.description
                    ),
                );
            }
        }
        violations.into_result()
    }
}

/// The range a benchmark's scores must lie in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub low: f64,
    pub high: f64,
    /// For messages: `a percentage in [0, 100]`.
    pub description: &'static str,
}

impl Scale {
    /// The range of a `ScoreScale` value.
    pub fn of(scale: i32) -> Scale {
        use frontierwatch_proto::v1::ScoreScale;
        let (low, high, description) = match ScoreScale::try_from(scale) {
            Ok(ScoreScale::Fraction) => (0.0, 1.0, "a fraction in [0, 1]"),
            Ok(ScoreScale::Percent) => (0.0, 100.0, "a percentage in [0, 100]"),
            Ok(ScoreScale::DurationSeconds | ScoreScale::Count) => {
                (0.0, f64::INFINITY, "not negative")
            }
            Ok(ScoreScale::Elo | ScoreScale::Unspecified) | Err(_) => {
                (f64::NEG_INFINITY, f64::INFINITY, "finite")
            }
        };
        Scale {
            low,
            high,
            description,
        }
    }

    pub fn contains(&self, value: f64) -> bool {
        (self.low..=self.high).contains(&value)
    }
}

/// What the storage and API layers need to know about a kind of resource.
pub trait Resource:
    prost::Message + prost::Name + Default + Clone + PartialEq + Send + Sync + Unpin + 'static
{
    /// The kind.
    const KIND: Kind;
    /// The request field that holds this resource, e.g. `benchmark_result`.
    const FIELD: &'static str;
    /// Fields that cannot change after creation.
    const IMMUTABLE: &'static [&'static str] = &[];

    /// The resource name.
    fn name(&self) -> &str;
    /// Sets the output-only metadata.
    fn set_meta(&mut self, meta: Meta);
    /// The stored etag.
    fn etag(&self) -> &str;
    /// When the resource was created.
    fn create_time(&self) -> Option<prost_types::Timestamp>;
    /// Sets the output-only list of fields its sources disagree on.
    fn set_conflicts(&mut self, conflicts: Vec<frontierwatch_proto::v1::FieldConflict>);
    /// Kind-specific rules; field paths relative to the resource.
    fn validate(&self, v: &mut Violations);
    /// Every reference to another resource.
    fn refs(&self) -> Vec<Ref>;
    /// The filter columns.
    fn index(&self) -> Index;
    /// A score to check against a benchmark's scale, if any.
    fn score_claim(&self) -> Option<ScoreClaim> {
        None
    }
    /// The scale this resource sets for scores (benchmarks only).
    fn scale(&self) -> Option<Scale> {
        None
    }
}

/// Checks a whole resource: the rules every message obeys, then its kind's
/// own; field paths under the resource's request field.
pub fn check<T: Resource>(resource: &T) -> Result<(), crate::error::ApiError> {
    let mut violations = Violations::under(T::FIELD);
    reflect::check_message(resource, &mut violations)?;
    resource.validate(&mut violations);
    violations.into_result()
}
