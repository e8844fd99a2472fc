//! Model lines: what one is, and how an importer derives one when its
//! source names none.
//!
//! A model line is a family of models that one developer names and
//! releases versions of: OpenAI's GPT, Meta's Llama, Anthropic's Claude.
//! The datasets name releases only, so the line is derived from a
//! release's display name, and only where the name justifies it:
//!
//! - **The family word** is the name's first word (words split at spaces,
//!   hyphens, underscores, slashes, dots and brackets), cut before its
//!   first digit: "GPT-4o" → GPT, "Qwen2.5-72B" → Qwen, "Llama 3.1" →
//!   Llama (a `v` before the digit goes too: "DreamerV3" → Dreamer). When that leaves fewer than two letters, the whole first word
//!   is the family word if it holds a digit ("o1", "T5"); a name that
//!   starts with anything else ("K", "6-Act", "NÜWA") has none.
//! - **A version must follow**: the family word is cut from a word with a
//!   digit, or a later word holds one ("Claude 3 Opus", "DeepSeek-V3").
//!   "Transformer-XL" or "BERT-Large" state no version of a family, so
//!   nothing justifies grouping them with anything.
//! - **One developer**: a line belongs to the release's lead developer
//!   (the organization the source names first), counted together with the
//!   organization it is part of ([`PART_OF`]: the sources credit the same
//!   Gemini releases to Google and to Google DeepMind, so Gemini is one
//!   line, developed by both). Releases of one family
//!   word by different lead developers are different lines: the family
//!   word alone names the line of the developer that already holds it on
//!   the server, or else of the one with the most releases of it in the
//!   source (ties: the lower organization name); the others' lines are
//!   named `{family}-{organization id}` ("Llama 3.1 Nemotron" by NVIDIA
//!   is `models/llama-nvidia`, not Meta's `models/llama`).
//! - A release with no family, or whose family would be taken, stays in a
//!   line of its own, named by its release id.
//!
//! A line's developers are the lead developers of its releases, all of
//! one organization, so no line joins releases of two developers. `fwatch import
//! --plan` lists the derived lines with their releases for review; a
//! wrong grouping is mended with `fwatch move` (MoveRelease), which keeps
//! everything that refers to the release.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use frontierwatch_client::names::slug;
use frontierwatch_client::proto::Model;

/// Longest id the server accepts.
const MAX_ID: usize = 63;

/// Organizations that are part of another, by id: a model line of theirs
/// is the larger organization's. (Sources credit the same Gemini release
/// to Google and to Google DeepMind.)
pub const PART_OF: &[(&str, &str)] = &[
    ("organizations/google-deepmind", "organizations/google"),
    ("organizations/google-brain", "organizations/google"),
    ("organizations/google-research", "organizations/google"),
    ("organizations/deepmind", "organizations/google"),
];

/// The organization whose model lines `organization`'s releases join.
pub fn house(organization: &str) -> &str {
    PART_OF
        .iter()
        .find(|(part, _)| *part == organization)
        .map_or(organization, |(_, whole)| whole)
}

/// The family a release's display name names, if the rule justifies one:
/// its line id and its spelling in the name.
pub fn family(display: &str) -> Option<(String, String)> {
    let mut words = display
        .split(|c: char| c.is_whitespace() || "-_/.()[],:".contains(c))
        .filter(|w| !w.is_empty());
    let first = words.next()?;
    if !first.is_ascii() {
        return None;
    }
    let letters: &str = &first[..first
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(first.len())];
    let cut = &first[letters.len()..];
    let (word, versioned_here) = if letters.len() >= 2 {
        let versioned = cut.starts_with(|c: char| c.is_ascii_digit());
        // "DreamerV3", "NASv3": the v marks the version, not the name.
        let letters = match letters.strip_suffix(['v', 'V']) {
            Some(name) if versioned && name.len() >= 3 => name,
            _ => letters,
        };
        (letters, versioned)
    } else if first.len() >= 2
        && first.starts_with(|c: char| c.is_ascii_alphabetic())
        && first.bytes().any(|b| b.is_ascii_digit())
        && first.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        (first, true)
    } else {
        return None;
    };
    let versioned = versioned_here || words.any(|w| w.bytes().any(|b| b.is_ascii_digit()));
    let id = slug(word)?;
    versioned.then(|| (id, word.to_owned()))
}

/// A release an importer found, for its line to be derived.
pub struct Found {
    pub release_id: String,
    pub display: String,
    /// Resolved organization names, the lead developer first; not empty.
    pub developers: Vec<String>,
    /// Where the release comes from in the source.
    pub row: u64,
}

/// The derived lines: the model of each, with the source row it is first
/// named on, and the line of each found release, in the order found.
pub struct Derived {
    pub models: Vec<(u64, Model)>,
    pub line_of: Vec<String>,
}

/// Derives the model line of every found release; `stored` holds the
/// developers of every model line on the server, by name.
pub fn derive(found: &[Found], stored: &HashMap<String, Vec<String>>) -> Derived {
    // family id → the house of the lead developer (the organization it
    // is part of, or itself) → releases (indices into `found`).
    let mut families: BTreeMap<String, BTreeMap<&str, Vec<usize>>> = BTreeMap::new();
    let mut spelling: HashMap<String, String> = HashMap::new();
    for (i, f) in found.iter().enumerate() {
        let (id, word) =
            family(&f.display).unwrap_or_else(|| (f.release_id.clone(), f.display.clone()));
        spelling.entry(id.clone()).or_insert(word);
        families
            .entry(id)
            .or_default()
            .entry(house(&f.developers[0]))
            .or_default()
            .push(i);
    }
    let mut line_of = vec![String::new(); found.len()];
    let mut lines: BTreeMap<String, (String, Vec<usize>)> = BTreeMap::new();
    for (id, by_lead) in &families {
        let holder = stored.get(&format!("models/{id}"));
        let owner = by_lead
            .iter()
            .filter(|(lead, _)| holder.is_none_or(|devs| devs.iter().any(|d| house(d) == **lead)))
            .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)))
            .map(|(lead, _)| *lead);
        for (lead, releases) in by_lead {
            let line = if Some(*lead) == owner {
                id.clone()
            } else {
                qualified(id, lead)
            };
            for &i in releases {
                line_of[i] = format!("models/{line}");
            }
            lines
                .entry(format!("models/{line}"))
                .or_insert_with(|| (spelling[id].clone(), Vec::new()))
                .1
                .extend(releases);
        }
    }
    let models = lines
        .into_iter()
        .map(|(name, (display, releases))| {
            let row = releases.iter().map(|&i| found[i].row).min().unwrap_or(0);
            let leads: BTreeSet<&String> =
                releases.iter().map(|&i| &found[i].developers[0]).collect();
            let model = Model {
                name,
                display_name: display,
                developers: leads.into_iter().cloned().collect(),
                ..Default::default()
            };
            (row, model)
        })
        .collect();
    Derived { models, line_of }
}

/// Drops the derived model lines that hold no planned release: every
/// release of theirs resolved into a stored release of another line, or
/// was refused. (Lines a source states are kept.)
pub fn drop_empty(plan: &mut super::Plan) {
    use frontierwatch_client::proto::import_item::Resource;
    let held: BTreeSet<String> = plan
        .rows
        .iter()
        .filter_map(|row| match &row.resource {
            Resource::Release(r) => r.name.split_once("/releases/").map(|(l, _)| l.to_owned()),
            _ => None,
        })
        .collect();
    plan.rows.retain(|row| match &row.resource {
        Resource::Model(m) => {
            !plan.derived.contains(&m.name)
                || held.contains(&m.name)
                || plan.stored_lines.contains_key(&m.name)
        }
        _ => true,
    });
}

/// The line id of a family's releases by a developer that does not own
/// the family word: `{family}-{organization id}`.
fn qualified(family: &str, organization: &str) -> String {
    let org = organization.rsplit('/').next().unwrap_or(organization);
    let mut id = format!("{family}-{org}");
    id.truncate(MAX_ID);
    id.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_family_word_needs_a_version_and_two_letters() {
        let f = |name: &str| family(name).map(|(id, _)| id);
        for (name, expected) in [
            ("GPT-4o", Some("gpt")),
            ("Qwen2.5-72B-Instruct", Some("qwen")),
            ("Llama 3.1 405B Instruct", Some("llama")),
            ("Claude Opus 4", Some("claude")),
            ("DeepSeek-V3", Some("deepseek")),
            ("o3-mini", Some("o3")),
            ("T5-11B", Some("t5")),
            ("Yi-34B", Some("yi")),
            ("Yi-Large", None),
            ("DreamerV3", Some("dreamer")),
            ("NASv3 (CIFAR-10)", Some("nas")),
            ("T-DMCA", None),
            ("T-NLRv5 XXL", None),
            ("K-EXAONE", None),
            ("6-Act Tether", None),
            ("NÜWA", None),
            ("Transformer-XL", None),
            ("BERT-Large", None),
        ] {
            assert_eq!(f(name).as_deref(), expected, "{name}");
        }
    }

    fn found(id: &str, display: &str, developers: &[&str]) -> Found {
        Found {
            release_id: id.to_owned(),
            display: display.to_owned(),
            developers: developers
                .iter()
                .map(|d| format!("organizations/{d}"))
                .collect(),
            row: 1,
        }
    }

    #[test]
    fn the_parts_of_one_organization_share_its_lines() {
        let found = [
            found("gemini-1-5-pro", "Gemini 1.5 Pro", &["google-deepmind"]),
            found(
                "gemini-2-5-deep-think",
                "Gemini 2.5 Deep Think",
                &["google"],
            ),
            found("alphafold-2", "AlphaFold 2", &["google-deepmind"]),
        ];
        let derived = derive(&found, &HashMap::new());
        assert_eq!(
            derived.line_of,
            ["models/gemini", "models/gemini", "models/alphafold"]
        );
        let developers: Vec<Vec<String>> = derived
            .models
            .iter()
            .map(|(_, m)| m.developers.clone())
            .collect();
        assert_eq!(
            developers,
            [
                vec!["organizations/google-deepmind".to_owned()],
                vec![
                    "organizations/google".to_owned(),
                    "organizations/google-deepmind".to_owned()
                ],
            ]
        );
    }

    #[test]
    fn a_family_word_of_two_developers_makes_two_lines() {
        let found = [
            found("llama-3-70b", "Llama 3 70B", &["meta"]),
            found("llama-3-8b", "Llama 3 8B", &["meta"]),
            found(
                "llama-3-1-nemotron",
                "Llama 3.1 Nemotron",
                &["nvidia", "meta"],
            ),
        ];
        let derived = derive(&found, &HashMap::new());
        assert_eq!(
            derived.line_of,
            ["models/llama", "models/llama", "models/llama-nvidia"]
        );
        let developers: Vec<_> = derived
            .models
            .iter()
            .map(|(_, m)| (m.name.as_str(), m.developers.clone()))
            .collect();
        assert_eq!(
            developers,
            [
                ("models/llama", vec!["organizations/meta".to_owned()]),
                (
                    "models/llama-nvidia",
                    vec!["organizations/nvidia".to_owned()]
                ),
            ]
        );
        // The line stored on the server keeps the family word, whoever has
        // more releases in this source.
        let stored = HashMap::from([(
            "models/llama".to_owned(),
            vec!["organizations/nvidia".to_owned()],
        )]);
        let derived = derive(&found, &stored);
        assert_eq!(
            derived.line_of,
            ["models/llama-meta", "models/llama-meta", "models/llama"]
        );
    }
}
