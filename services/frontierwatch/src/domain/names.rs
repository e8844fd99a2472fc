//! AIP-122 resource names. The kinds of resource and their name patterns
//! are declared once, in the contract crate's registry
//! (`frontierwatch_proto::kinds`); the server's `Kind` is the contract's
//! `ResourceType`.

pub use frontierwatch_proto::kinds::{KINDS, KindInfo, MAX_ID_LEN, is_valid_id};
pub use frontierwatch_proto::v1::ResourceType as Kind;

/// The model line a release name belongs to: `models/x/releases/y` → `models/x`.
pub fn model_of_release(release: &str) -> Option<String> {
    release
        .split_once("/releases/")
        .map(|(model, _)| model.to_owned())
}
