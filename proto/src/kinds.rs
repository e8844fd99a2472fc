//! The registry of resource kinds: every kind of resource the service
//! stores is declared here, once.
//!
//! The server (names, the change stream's types and filters, snapshots,
//! import outcomes, the schema's name check), the client crate and the CLI
//! all derive what they know about kinds from [`KINDS`]. A new kind needs
//! its messages in the proto, one entry here, and its own rules (validation
//! and list filters) in the server; a test walks every `ResourceType` value
//! of the descriptor set and fails while any is left out.

use crate::v1::ResourceType;

/// The longest resource id (one name segment), AIP-122.
pub const MAX_ID_LEN: usize = 63;

/// One kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// Its value in the `ResourceType` enum.
    pub resource_type: ResourceType,
    /// Message name in `frontierwatch.v1`, also the stem of its methods:
    /// `BenchmarkResult` (`GetBenchmarkResult`, ...).
    pub message: &'static str,
    /// Full protobuf name: `frontierwatch.v1.BenchmarkResult`.
    pub full_name: &'static str,
    /// `Any` type URL: `type.googleapis.com/frontierwatch.v1.BenchmarkResult`.
    pub type_url: &'static str,
    /// Stem of its List method: `BenchmarkResults`.
    pub plural: &'static str,
    /// Request field holding one resource (`benchmark_result`); also the
    /// value stored in `resources.kind`. Create's id field is `{field}_id`.
    pub field: &'static str,
    /// List response field: `benchmark_results`.
    pub plural_field: &'static str,
    /// Collection segment of its names: `benchmarkResults`.
    pub collection: &'static str,
    /// The kind its names nest under (releases under model lines).
    pub parent: Option<ResourceType>,
}

macro_rules! kind {
    ($type:ident, $message:literal, $plural:literal, $field:literal, $plural_field:literal, $collection:literal, $parent:expr) => {
        KindInfo {
            resource_type: ResourceType::$type,
            message: $message,
            full_name: concat!("frontierwatch.v1.", $message),
            type_url: concat!("type.googleapis.com/frontierwatch.v1.", $message),
            plural: $plural,
            field: $field,
            plural_field: $plural_field,
            collection: $collection,
            parent: $parent,
        }
    };
}

/// Every kind of stored resource.
pub const KINDS: &[KindInfo] = &[
    kind!(
        Organization,
        "Organization",
        "Organizations",
        "organization",
        "organizations",
        "organizations",
        None
    ),
    kind!(Model, "Model", "Models", "model", "models", "models", None),
    kind!(
        Release,
        "Release",
        "Releases",
        "release",
        "releases",
        "releases",
        Some(ResourceType::Model)
    ),
    kind!(
        Benchmark,
        "Benchmark",
        "Benchmarks",
        "benchmark",
        "benchmarks",
        "benchmarks",
        None
    ),
    kind!(
        BenchmarkResult,
        "BenchmarkResult",
        "BenchmarkResults",
        "benchmark_result",
        "benchmark_results",
        "benchmarkResults",
        None
    ),
    kind!(
        Disclosure,
        "Disclosure",
        "Disclosures",
        "disclosure",
        "disclosures",
        "disclosures",
        None
    ),
    kind!(
        Indicator,
        "Indicator",
        "Indicators",
        "indicator",
        "indicators",
        "indicators",
        None
    ),
    kind!(
        TransparencyIndex,
        "TransparencyIndex",
        "TransparencyIndexes",
        "transparency_index",
        "transparency_indexes",
        "transparencyIndexes",
        None
    ),
    kind!(
        Commitment,
        "Commitment",
        "Commitments",
        "commitment",
        "commitments",
        "commitments",
        None
    ),
    kind!(
        Offering,
        "Offering",
        "Offerings",
        "offering",
        "offerings",
        "offerings",
        None
    ),
    kind!(
        Measurement,
        "Measurement",
        "Measurements",
        "measurement",
        "measurements",
        "measurements",
        None
    ),
];

/// Events of the stream that are derived, not stored: alerts.
pub const ALERT_FULL_NAME: &str = "frontierwatch.v1.Alert";
/// The `Any` type URL of alerts.
pub const ALERT_TYPE_URL: &str = "type.googleapis.com/frontierwatch.v1.Alert";

impl KindInfo {
    /// The kind of a `ResourceType`, if it is a stored kind.
    pub fn of(resource_type: ResourceType) -> Option<&'static KindInfo> {
        KINDS.iter().find(|k| k.resource_type == resource_type)
    }

    /// The kind whose `resources.kind` value (its `field`) this is.
    pub fn of_field(field: &str) -> Option<&'static KindInfo> {
        KINDS.iter().find(|k| k.field == field)
    }

    /// The kind of a full protobuf message name.
    pub fn of_message(full_name: &str) -> Option<&'static KindInfo> {
        KINDS.iter().find(|k| k.full_name == full_name)
    }

    /// The kind a resource name belongs to, if it is well formed.
    pub fn of_name(name: &str) -> Option<&'static KindInfo> {
        KINDS.iter().find(|k| k.is_valid_name(name))
    }

    /// The parent's kind.
    pub fn parent_kind(&self) -> Option<&'static KindInfo> {
        self.parent.and_then(KindInfo::of)
    }

    /// The name pattern, for messages: `models/{model}/releases/{release}`.
    pub fn pattern(&self) -> String {
        let own = format!("{}/{{{}}}", self.collection, self.field);
        match self.parent_kind() {
            Some(parent) => format!("{}/{own}", parent.pattern()),
            None => own,
        }
    }

    /// The same pattern as an anchored POSIX regular expression, for the
    /// schema's name check, without the length of an id: PostgreSQL's
    /// regular expressions are several times slower with a bounded
    /// repetition, so the schema checks [`MAX_ID_LEN`] for every segment
    /// at once (see its twelfth migration).
    pub fn name_regex(&self) -> String {
        format!("^{}$", self.regex_body())
    }

    fn regex_body(&self) -> String {
        let own = format!("{}/[a-z][a-z0-9-]*", self.collection);
        match self.parent_kind() {
            Some(parent) => format!("{}/{own}", parent.regex_body()),
            None => own,
        }
    }

    /// The name of the resource `id` under `parent` (empty for top-level
    /// kinds).
    pub fn name(&self, parent: &str, id: &str) -> String {
        if self.parent.is_some() {
            format!("{parent}/{}/{id}", self.collection)
        } else {
            format!("{}/{id}", self.collection)
        }
    }

    /// Whether `name` is a well-formed name of this kind.
    pub fn is_valid_name(&self, name: &str) -> bool {
        let Some((prefix, id)) = name.rsplit_once('/') else {
            return false;
        };
        if !is_valid_id(id) {
            return false;
        }
        match self.parent_kind() {
            Some(parent) => prefix
                .rsplit_once('/')
                .is_some_and(|(parent_name, collection)| {
                    collection == self.collection && parent.is_valid_name(parent_name)
                }),
            None => prefix == self.collection,
        }
    }
}

impl ResourceType {
    /// This type's kind of stored resource (none for alerts and unset).
    pub fn kind(self) -> Option<&'static KindInfo> {
        KindInfo::of(self)
    }

    /// The type of a full protobuf message name (unspecified if unknown).
    pub fn of_message(full_name: &str) -> ResourceType {
        if full_name == ALERT_FULL_NAME {
            return ResourceType::Alert;
        }
        KindInfo::of_message(full_name).map_or(ResourceType::Unspecified, |k| k.resource_type)
    }

    /// The type of a resource name, if it is a well-formed name of a kind.
    pub fn of_name(name: &str) -> Option<ResourceType> {
        KindInfo::of_name(name).map(|k| k.resource_type)
    }

    /// The value stored in `resources.kind` (empty for non-kinds).
    pub fn field(self) -> &'static str {
        self.kind().map_or("", |k| k.field)
    }

    /// The name pattern, for messages.
    pub fn pattern(self) -> String {
        self.kind().map_or_else(String::new, KindInfo::pattern)
    }

    /// The name of the resource `id` under `parent`.
    pub fn name(self, parent: &str, id: &str) -> String {
        self.kind().map_or_else(String::new, |k| k.name(parent, id))
    }

    /// Whether `name` is a well-formed name of this kind.
    pub fn is_valid_name(self, name: &str) -> bool {
        self.kind().is_some_and(|k| k.is_valid_name(name))
    }

    /// The `Any` type URL of this type's messages (empty if unspecified).
    pub fn type_url(self) -> &'static str {
        match self {
            ResourceType::Alert => ALERT_TYPE_URL,
            other => other.kind().map_or("", |k| k.type_url),
        }
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

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use prost_types::FileDescriptorSet;

    use super::*;

    fn descriptor_set() -> FileDescriptorSet {
        FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).expect("descriptor set decodes")
    }

    /// Every `ResourceType` value of the contract, read from the descriptor
    /// set, is either a registered kind or a derived event type.
    #[test]
    fn every_resource_type_of_the_contract_is_registered() {
        let files = descriptor_set().file;
        let messages: Vec<String> = files
            .iter()
            .flat_map(|f| {
                let package = f.package().to_owned();
                f.message_type
                    .iter()
                    .map(move |m| format!("{package}.{}", m.name()))
            })
            .collect();
        let values: Vec<_> = files
            .iter()
            .flat_map(|f| &f.enum_type)
            .find(|e| e.name() == "ResourceType")
            .expect("ResourceType is declared")
            .value
            .clone();
        assert!(values.len() >= 10);
        for value in values {
            let number = value.number();
            let resource_type = ResourceType::try_from(number).expect("generated code is current");
            match resource_type {
                ResourceType::Unspecified => continue,
                ResourceType::Alert => {
                    assert!(messages.iter().any(|m| m == ALERT_FULL_NAME));
                    continue;
                }
                _ => {}
            }
            let kind = resource_type
                .kind()
                .unwrap_or_else(|| panic!("{} has no entry in KINDS", value.name()));
            assert!(
                messages.iter().any(|m| m == kind.full_name),
                "{} names a message that does not exist",
                kind.full_name
            );
            assert_eq!(ResourceType::of_message(kind.full_name), resource_type);
            assert_eq!(KindInfo::of_field(kind.field), Some(kind));
            assert_eq!(
                format!("RESOURCE_TYPE_{}", kind.field.to_ascii_uppercase()),
                value.name(),
                "the enum value and the field name agree"
            );
            let name = match kind.parent_kind() {
                Some(parent) => kind.name(&parent.name("", "p"), "x"),
                None => kind.name("", "x"),
            };
            assert_eq!(KindInfo::of_name(&name), Some(kind), "{name}");
        }
    }

    /// The contract has what every kind needs: its five standard methods,
    /// a list response field, and a place in ImportItem.
    #[test]
    fn every_kind_has_its_methods_and_its_import_field() {
        let files = descriptor_set().file;
        let methods: Vec<String> = files
            .iter()
            .flat_map(|f| &f.service)
            .flat_map(|s| &s.method)
            .map(|m| m.name().to_owned())
            .collect();
        let message = |name: &str| {
            files
                .iter()
                .flat_map(|f| &f.message_type)
                .find(|m| m.name() == name)
                .unwrap_or_else(|| panic!("message {name} exists"))
                .clone()
        };
        let import_item = message("ImportItem");
        for kind in KINDS {
            for verb in ["Get", "Create", "Update", "Delete"] {
                let method = format!("{verb}{}", kind.message);
                assert!(methods.contains(&method), "{method} is missing");
            }
            let list = format!("List{}", kind.plural);
            assert!(methods.contains(&list), "{list} is missing");
            let response = message(&format!("List{}Response", kind.plural));
            assert!(
                response.field.iter().any(|f| f.name() == kind.plural_field),
                "{} has no field {}",
                response.name(),
                kind.plural_field
            );
            let create = message(&format!("Create{}Request", kind.message));
            let id_field = format!("{}_id", kind.field);
            assert!(create.field.iter().any(|f| f.name() == id_field));
            assert!(create.field.iter().any(|f| f.name() == kind.field));
            // The client crate encodes these requests for any kind by
            // field number.
            let number = |m: &prost_types::DescriptorProto, name: &str| {
                m.field
                    .iter()
                    .find(|f| f.name() == name)
                    .map(|f| f.number())
            };
            let first = if kind.parent.is_some() { 2 } else { 1 };
            assert_eq!(number(&create, "parent"), kind.parent.map(|_| 1));
            assert_eq!(number(&create, &id_field), Some(first));
            assert_eq!(number(&create, kind.field), Some(first + 1));
            assert_eq!(number(&create, "request_id"), Some(first + 2));
            let get = message(&format!("Get{}Request", kind.message));
            assert_eq!(number(&get, "name"), Some(1));
            let field = import_item
                .field
                .iter()
                .find(|f| f.name() == kind.field)
                .unwrap_or_else(|| panic!("ImportItem has no field {}", kind.field));
            assert_eq!(field.type_name(), format!(".{}", kind.full_name));
        }
    }

    #[test]
    fn names_are_checked_against_their_kind() {
        let of = |t| KindInfo::of(t).expect("registered");
        let org = of(ResourceType::Organization);
        let release = of(ResourceType::Release);
        assert!(org.is_valid_name("organizations/xai"));
        assert!(!org.is_valid_name("models/xai"));
        assert!(!org.is_valid_name("organizations/XAI"));
        assert!(!org.is_valid_name("organizations/"));
        assert!(!org.is_valid_name("organizations/a-"));
        assert!(release.is_valid_name("models/grok/releases/grok-4-5"));
        assert!(!release.is_valid_name("models/grok"));
        assert!(!release.is_valid_name("x/models/grok/releases/grok-4-5"));
        assert_eq!(release.pattern(), "models/{model}/releases/{release}");
        assert_eq!(
            release.name_regex(),
            "^models/[a-z][a-z0-9-]*/releases/[a-z][a-z0-9-]*$"
        );
        assert_eq!(
            KindInfo::of_name("models/grok").map(|k| k.resource_type),
            Some(ResourceType::Model)
        );
        assert_eq!(KindInfo::of_name("nonsense"), None);
        assert!(!is_valid_id(&"a".repeat(64)));
    }
}
