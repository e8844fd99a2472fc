//! Which batches of an import may be sent while earlier ones are still in
//! flight: a batch waits for the batches in flight to finish when it
//! writes a name one of them writes or mentions, or mentions a name one of
//! them writes. Each batch's outcome is then the one it has when the
//! batches are sent one at a time, in order: the server decides an item
//! from the rows its names, its references and its parents name, and
//! those hold what every earlier batch that touches them wrote.
//!
//! A batch's names come from the data, not from a list of which fields
//! of which kind refer to what: what a resource mentions is every string
//! in its encoding that looks like a resource name (it holds a `/`), at
//! any depth, with every prefix of it that ends before a `/` (a release
//! names its model line by its own name's prefix). Reading more than the
//! references only makes a batch wait more often, never less.

use std::collections::HashSet;

use frontierwatch_client::proto::import_item;
use frontierwatch_proto::wire;

use super::name_of;

/// How deep the scan follows nested messages (the contract nests far less).
const MAX_DEPTH: usize = 16;

/// What a batch writes (its items' names) and mentions.
#[derive(Default)]
pub struct Touches {
    written: HashSet<String>,
    mentioned: HashSet<String>,
}

impl Touches {
    /// What the resources of a batch write and mention.
    pub fn of<'a>(resources: impl IntoIterator<Item = &'a import_item::Resource>) -> Self {
        let mut touches = Self::default();
        for resource in resources {
            let mut encoded = Vec::new();
            resource.encode(&mut encoded);
            strings(&encoded, 0, &mut |s| {
                if s.contains('/') {
                    touches.mention(s);
                }
            });
            touches.written.insert(name_of(resource));
        }
        touches
    }

    fn mention(&mut self, name: &str) {
        for (at, _) in name.match_indices('/') {
            self.mentioned.insert(name[..at].to_owned());
        }
        self.mentioned.insert(name.to_owned());
    }

    /// Whether this batch must wait for the batches `other` describes.
    pub fn conflicts(&self, other: &Touches) -> bool {
        !self.written.is_disjoint(&other.written)
            || !self.written.is_disjoint(&other.mentioned)
            || !self.mentioned.is_disjoint(&other.written)
    }
}

/// Calls `found` with every UTF-8 length-delimited value of an encoded
/// message, and reads those that parse as messages in turn.
fn strings(bytes: &[u8], depth: usize, found: &mut dyn FnMut(&str)) {
    for field in wire::fields(bytes) {
        let Ok((_, wire::Value::Delimited(value))) = field else {
            continue;
        };
        if let Ok(text) = std::str::from_utf8(value) {
            found(text);
        }
        if depth < MAX_DEPTH {
            // A nested message, or text that happens not to parse.
            strings(value, depth + 1, found);
        }
    }
}

#[cfg(test)]
mod tests {
    use frontierwatch_client::proto::{
        Measurement, Offering, Provenance, Release, Source, import_item::Resource,
    };

    use super::*;

    fn measurement(name: &str, offering: &str) -> Resource {
        Resource::Measurement(Measurement {
            name: name.into(),
            offering: offering.into(),
            measured_by: "organizations/llm-stats".into(),
            provenance: Some(Provenance {
                sources: vec![Source {
                    uri: "https://llm-stats.com/".into(),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        })
    }

    #[test]
    fn a_batch_waits_for_what_it_mentions_or_rewrites_and_not_otherwise() {
        let offerings = Touches::of(&[Resource::Offering(Offering {
            name: "offerings/a".into(),
            release: "models/m/releases/r".into(),
            provider: "organizations/p".into(),
            ..Default::default()
        })]);
        let of_a = Touches::of(&[measurement("measurements/1", "offerings/a")]);
        let of_b = Touches::of(&[measurement("measurements/2", "offerings/b")]);
        let more_of_b = Touches::of(&[measurement("measurements/3", "offerings/b")]);
        // A measurement of an offering in flight waits for it, and the other
        // way round.
        assert!(of_a.conflicts(&offerings));
        assert!(offerings.conflicts(&of_a));
        // Measurements of other offerings go together, even of one offering.
        assert!(!of_b.conflicts(&offerings));
        assert!(!of_b.conflicts(&more_of_b));
        // A second write of a name in flight waits.
        assert!(of_b.conflicts(&Touches::of(&[measurement(
            "measurements/2",
            "offerings/c"
        )])));
        // A release mentions its model line by its own name.
        let release = Touches::of(&[Resource::Release(Release {
            name: "models/m/releases/r2".into(),
            ..Default::default()
        })]);
        let line = Touches::of(&[Resource::Model(Default::default())]);
        assert!(
            !release.conflicts(&line),
            "an unnamed model is no model line"
        );
        let line = Touches::of(&[Resource::Model(frontierwatch_client::proto::Model {
            name: "models/m".into(),
            ..Default::default()
        })]);
        assert!(release.conflicts(&line));
        assert!(line.conflicts(&release));
    }
}
