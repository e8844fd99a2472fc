//! AIP-122 resource names and the kinds of resource.

/// The kinds of resource the service stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Organization,
    Model,
    Release,
    Benchmark,
    BenchmarkResult,
    Disclosure,
    Indicator,
    Commitment,
}

/// The longest accepted resource id (one name segment).
pub const MAX_ID_LEN: usize = 63;

impl Kind {
    /// The value stored in `resources.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Organization => "organization",
            Kind::Model => "model",
            Kind::Release => "release",
            Kind::Benchmark => "benchmark",
            Kind::BenchmarkResult => "benchmark_result",
            Kind::Disclosure => "disclosure",
            Kind::Indicator => "indicator",
            Kind::Commitment => "commitment",
        }
    }

    /// The name pattern, for messages.
    pub fn pattern(self) -> &'static str {
        match self {
            Kind::Organization => "organizations/{organization}",
            Kind::Model => "models/{model}",
            Kind::Release => "models/{model}/releases/{release}",
            Kind::Benchmark => "benchmarks/{benchmark}",
            Kind::BenchmarkResult => "benchmarkResults/{benchmark_result}",
            Kind::Disclosure => "disclosures/{disclosure}",
            Kind::Indicator => "indicators/{indicator}",
            Kind::Commitment => "commitments/{commitment}",
        }
    }

    /// The collection segment of top-level kinds.
    fn collection(self) -> &'static str {
        match self {
            Kind::Organization => "organizations",
            Kind::Model | Kind::Release => "models",
            Kind::Benchmark => "benchmarks",
            Kind::BenchmarkResult => "benchmarkResults",
            Kind::Disclosure => "disclosures",
            Kind::Indicator => "indicators",
            Kind::Commitment => "commitments",
        }
    }

    /// Builds a name from its parent (releases only) and id.
    pub fn name(self, parent: &str, id: &str) -> String {
        match self {
            Kind::Release => format!("{parent}/releases/{id}"),
            _ => format!("{}/{id}", self.collection()),
        }
    }

    /// Whether `name` is a well-formed name of this kind.
    pub fn is_valid_name(self, name: &str) -> bool {
        let segments: Vec<&str> = name.split('/').collect();
        match (self, segments.as_slice()) {
            (Kind::Release, ["models", model, "releases", release]) => {
                is_valid_id(model) && is_valid_id(release)
            }
            (Kind::Release, _) => false,
            (_, [collection, id]) => *collection == self.collection() && is_valid_id(id),
            _ => false,
        }
    }

    /// The kind a name belongs to, if any.
    pub fn of_name(name: &str) -> Option<Kind> {
        [
            Kind::Organization,
            Kind::Model,
            Kind::Release,
            Kind::Benchmark,
            Kind::BenchmarkResult,
            Kind::Disclosure,
            Kind::Indicator,
            Kind::Commitment,
        ]
        .into_iter()
        .find(|kind| kind.is_valid_name(name))
    }
}

/// An id: lowercase letters, digits and hyphens, starting with a letter,
/// not ending with a hyphen, at most 63 characters (AIP-122).
pub fn is_valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1] != b'-'
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// The model line a release name belongs to: `models/x/releases/y` → `models/x`.
pub fn model_of_release(release: &str) -> Option<String> {
    release
        .split_once("/releases/")
        .map(|(model, _)| model.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_against_their_kind() {
        assert!(Kind::Organization.is_valid_name("organizations/xai"));
        assert!(!Kind::Organization.is_valid_name("models/xai"));
        assert!(!Kind::Organization.is_valid_name("organizations/XAI"));
        assert!(!Kind::Organization.is_valid_name("organizations/"));
        assert!(!Kind::Organization.is_valid_name("organizations/a-"));
        assert!(Kind::Release.is_valid_name("models/grok/releases/grok-4-5"));
        assert!(!Kind::Release.is_valid_name("models/grok"));
        assert!(Kind::BenchmarkResult.is_valid_name("benchmarkResults/r1"));
        assert_eq!(Kind::of_name("models/grok"), Some(Kind::Model));
        assert_eq!(Kind::of_name("nonsense"), None);
        assert!(!is_valid_id(&"a".repeat(64)));
    }
}
