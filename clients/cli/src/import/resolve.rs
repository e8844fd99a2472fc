//! Entity resolution: organization names as sources spell them, resolved
//! to one resource through the display names and aliases stored on it.

use std::collections::{HashMap, HashSet};

use frontierwatch_client::Client;
use frontierwatch_client::names::slug;
use frontierwatch_client::proto::{
    ListModelsRequest, ListOrganizationsRequest, Organization, import_item,
};

use super::Plan;

/// Spellings known to name one organization, canonical name first. They are
/// stored as aliases on the organization when it is created.
const KNOWN: &[&[&str]] = &[
    &["Google DeepMind", "DeepMind"],
    &["Meta", "Meta AI"],
    &["Mistral AI", "Mistral"],
    &[
        "Alibaba",
        "Alibaba Cloud / Qwen Team",
        "Alibaba Cloud",
        "Qwen",
        "Qwen Team",
    ],
    &[
        "Zhipu AI",
        "Z.ai",
        "Zhipu",
        "Zhipu AI (Z.ai)",
        "Z.ai (Zhipu AI)",
    ],
    &["Moonshot AI", "Moonshot"],
    &["AI21 Labs", "AI21"],
    &["Amazon", "Amazon Web Services", "AWS"],
    &["NVIDIA", "Nvidia"],
];

/// Compares names the way people mean them: case, whitespace and
/// punctuation do not matter.
pub fn key(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .flat_map(char::to_lowercase)
        .collect()
}

/// Organization names known to the server and to this import.
#[derive(Default)]
pub struct Resolver {
    by_key: HashMap<String, String>,
    /// Organizations this import has stated a claim about.
    claimed: HashSet<String>,
    /// The developers of every stored model line, by name: who holds a
    /// family word already (`lines::derive`).
    pub lines: HashMap<String, Vec<String>>,
}

impl Resolver {
    /// Loads every organization's display name, aliases and id, and the
    /// developers of every model line.
    pub async fn load(client: &Client) -> anyhow::Result<Self> {
        let organizations = super::every_page(
            client,
            |mut c, page_token| async move {
                c.list_organizations(ListOrganizationsRequest {
                    page_size: 1000,
                    page_token,
                    ..Default::default()
                })
                .await
            },
            |page| (page.organizations, page.next_page_token),
        )
        .await?;
        let models = super::every_page(
            client,
            |mut c, page_token| async move {
                c.list_models(ListModelsRequest {
                    page_size: 1000,
                    page_token,
                    ..Default::default()
                })
                .await
            },
            |page| (page.models, page.next_page_token),
        )
        .await?;
        let mut resolver = Self {
            lines: models.into_iter().map(|m| (m.name, m.developers)).collect(),
            ..Self::default()
        };
        // Oldest first: a spelling two organizations answer to names the
        // one that answered to it first, so that what a later import
        // stores (another organization spelled alike) never changes how
        // an earlier import's rows resolve.
        let mut organizations = organizations;
        organizations.sort_by_key(|o| {
            o.create_time
                .as_ref()
                .map(|t| (t.seconds, t.nanos))
                .unwrap_or_default()
        });
        for org in &organizations {
            resolver.learn(org);
        }
        Ok(resolver)
    }

    fn learn(&mut self, org: &Organization) {
        let id = org.name.rsplit('/').next().unwrap_or_default();
        for spelling in std::iter::once(org.display_name.as_str())
            .chain(org.aliases.iter().map(String::as_str))
            .chain([id])
        {
            let k = key(spelling);
            if !k.is_empty() {
                self.by_key.entry(k).or_insert_with(|| org.name.clone());
            }
        }
    }

    /// The organization a spelling names, if known.
    pub fn resolve(&self, spelling: &str) -> Option<String> {
        self.by_key.get(&key(spelling)).cloned()
    }

    /// The organization a spelling names; unknown ones are added to the
    /// plan (with the known aliases of their group). `id` overrides the
    /// derived id, and marks the row as the dataset's own record of the
    /// organization: it is sent again when it already exists, so that the
    /// report shows it unchanged (or updated). Errors say why a spelling
    /// cannot be used.
    pub fn organization(
        &mut self,
        plan: &mut Plan,
        file: &str,
        line: u64,
        spelling: &str,
        id: Option<&str>,
        extra: Organization,
    ) -> Result<String, String> {
        let spelling = spelling.split_whitespace().collect::<Vec<_>>().join(" ");
        if spelling.is_empty() {
            return Err("no organization".to_owned());
        }
        let group = KNOWN
            .iter()
            .find(|g| g.iter().any(|s| key(s) == key(&spelling)));
        let display = spelling.clone();
        // The spelling itself, or another known spelling of its group
        // ("Moonshot" is the organization stored as "Moonshot AI").
        let known = self.resolve(&spelling).or_else(|| {
            group
                .into_iter()
                .flat_map(|g| g.iter())
                .find_map(|other| self.resolve(other))
        });
        if let Some(name) = known {
            let own = id
                .and_then(slug)
                .is_some_and(|id| name == format!("organizations/{id}"));
            if !own {
                // The source names a known organization: its first spelling
                // of it is its claim (so that the state after several
                // imports does not depend on which created it).
                if self.claimed.insert(name.clone()) {
                    // The dataset's own id for it is one more spelling.
                    let mut aliases = aliases_of(group, &display);
                    if let Some(id) = id
                        && key(id) != key(&display)
                        && !aliases.iter().any(|a| key(a) == key(id))
                    {
                        aliases.push(id.to_owned());
                        aliases.sort();
                    }
                    plan.push(
                        file,
                        line,
                        import_item::Resource::Organization(Organization {
                            name: name.clone(),
                            display_name: display.clone(),
                            aliases,
                            ..extra
                        }),
                    );
                }
                return Ok(name);
            }
        }
        let id = match id {
            Some(id) => slug(id),
            None => slug(group.map_or(display.as_str(), |g| g[0])),
        }
        .ok_or_else(|| format!("no usable id in organization name {spelling:?}"))?;
        let name = format!("organizations/{id}");
        if self
            .by_key
            .get(&key(&id))
            .is_some_and(|other| *other != name)
            && self.resolve(&spelling).as_ref() != Some(&name)
        {
            return Err(format!(
                "organization {spelling:?} would take the id of another organization ({id})"
            ));
        }
        let org = Organization {
            name: name.clone(),
            aliases: aliases_of(group, &display),
            display_name: display,
            ..extra
        };
        self.learn(&org);
        self.claimed.insert(name.clone());
        plan.push(file, line, import_item::Resource::Organization(org));
        Ok(name)
    }
}

/// The known spellings of an organization's group but the one used.
fn aliases_of(group: Option<&&[&str]>, display: &str) -> Vec<String> {
    let mut aliases: Vec<String> = group
        .map(|g| {
            g.iter()
                .filter(|s| key(s) != key(display))
                .map(|s| (*s).to_owned())
                .collect()
        })
        .unwrap_or_default();
    aliases.sort();
    aliases
}
