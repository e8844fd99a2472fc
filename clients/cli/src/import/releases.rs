//! Release resolution across datasets: one model, named differently by two
//! sources (`gpt-4o` and `gpt-4o-2024-05-13`, "GPT-4o (May 2024)"), is one
//! release.
//!
//! A release a plan names that is not stored yet is recognised as a stored
//! one when
//! - exactly one stored release has its id (punctuation and case aside)
//!   and their dates do not disagree; or else when
//! - one of its spellings (id, display name) is a stored release's id,
//!   display name or alias, and their dates do not disagree; or
//! - it is in the same model line, its id without a date suffix
//!   (`-2024-05-13`, `-20240307`, `-04-2024`, `-may-2024`, `-2407`) is the
//!   other's id without one, and their dates agree.
//!
//! Dates agree when a release or announce date of one lies within
//! [`TOLERANCE_DAYS`] of one of the other's. Exactly one candidate: the
//! plan's release takes the stored name, its own id becomes an alias,
//! and every reference to it in the plan follows. Several: the row is
//! reported as ambiguous, with the candidates, and nothing is guessed.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::NaiveDate;
use frontierwatch_client::Client;
use frontierwatch_client::proto::{ListReleasesRequest, Release, import_item::Resource};

use super::resolve::key;
use super::{Merge, Plan};

/// How far apart two sources' dates of one release may be, in days: an
/// announcement and the API release a week later are one release.
pub const TOLERANCE_DAYS: i64 = 14;

/// What is known of a stored release.
struct Known {
    name: String,
    line: String,
    id: String,
    stem: String,
    dates: Vec<NaiveDate>,
}

/// The stored releases, by their spellings.
#[derive(Default)]
pub struct Releases {
    known: Vec<Known>,
    names: HashMap<String, usize>,
    by_spelling: HashMap<String, BTreeSet<usize>>,
    /// Stored releases by their ids only (folded like spellings): a plan's
    /// id found here is a stronger match than a display name. (Not by
    /// aliases: another source's merge adds those, and a row must not
    /// resolve on its next import through what a later import added.)
    by_id: HashMap<String, BTreeSet<usize>>,
    /// Stored releases by the release ids they carry as aliases, exactly:
    /// what an earlier import recorded when it resolved a source's release
    /// into a stored one (its id became an alias there).
    recorded: HashMap<String, BTreeSet<usize>>,
}

fn line_and_id(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("models/")?;
    let (line, id) = rest.split_once("/releases/")?;
    Some((line, id))
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A release id without its date suffix, if it has one.
pub fn stem(id: &str) -> &str {
    let parts: Vec<&str> = id.split('-').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let month = |s: &str| s.parse::<u32>().is_ok_and(|m| (1..=12).contains(&m));
    let year = |s: &str| s.starts_with("20");
    let n = parts.len();
    let cut = |k: usize| -> &str {
        let kept: usize = parts[..n - k].iter().map(|p| p.len() + 1).sum();
        &id[..kept.saturating_sub(1)]
    };
    if n > 3 && digits(parts[n - 3], 4) && year(parts[n - 3]) && digits(parts[n - 2], 2) {
        // -2024-05-13
        if digits(parts[n - 1], 2) && month(parts[n - 2]) {
            return cut(3);
        }
    }
    if n > 2 {
        let (a, b) = (parts[n - 2], parts[n - 1]);
        // -04-2024, -may-2024, -2024-05
        if (digits(a, 2) && month(a) || MONTHS.contains(&a)) && digits(b, 4) && year(b)
            || digits(a, 4) && year(a) && digits(b, 2) && month(b)
        {
            return cut(2);
        }
    }
    if n > 1 {
        let last = parts[n - 1];
        // -20240307, or -2407 (year and month)
        if digits(last, 8) && year(last) && month(&last[4..6])
            || digits(last, 4)
                && matches!(&last[..2], "23" | "24" | "25" | "26")
                && month(&last[2..])
        {
            return cut(1);
        }
    }
    id
}

fn dates_of(release: &Release) -> Vec<NaiveDate> {
    [&release.release_date, &release.announce_date]
        .into_iter()
        .filter_map(|d| d.as_ref()?.date.as_ref())
        .filter_map(|d| {
            NaiveDate::from_ymd_opt(
                d.year,
                u32::try_from(d.month.max(1)).ok()?,
                u32::try_from(d.day.max(1)).ok()?,
            )
        })
        .collect()
}

/// Whether dates agree: within the tolerance; `None` when one side has none.
fn agree(a: &[NaiveDate], b: &[NaiveDate]) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    Some(a.iter().any(|x| {
        b.iter()
            .any(|y| (*x - *y).num_days().abs() <= TOLERANCE_DAYS)
    }))
}

impl Releases {
    /// Loads every stored release.
    pub async fn load(client: &Client) -> anyhow::Result<Self> {
        let stored = super::every_page(
            client,
            |mut c, page_token| async move {
                c.list_releases(ListReleasesRequest {
                    parent: "models/-".to_owned(),
                    page_size: 1000,
                    page_token,
                    ..Default::default()
                })
                .await
            },
            |page| (page.releases, page.next_page_token),
        )
        .await?;
        let mut releases = Self::default();
        for release in &stored {
            releases.learn(release);
        }
        Ok(releases)
    }

    fn learn(&mut self, release: &Release) {
        let Some((line, id)) = line_and_id(&release.name) else {
            return;
        };
        let index = self.known.len();
        self.known.push(Known {
            name: release.name.clone(),
            line: line.to_owned(),
            id: id.to_owned(),
            stem: stem(id).to_owned(),
            dates: dates_of(release),
        });
        self.names.insert(release.name.clone(), index);
        for alias in &release.aliases {
            self.recorded
                .entry(alias.clone())
                .or_default()
                .insert(index);
        }
        for spelling in [id, release.display_name.as_str()]
            .into_iter()
            .chain(release.aliases.iter().map(String::as_str))
        {
            let k = key(spelling);
            if !k.is_empty() {
                self.by_spelling.entry(k).or_default().insert(index);
            }
        }
        let k = key(id);
        if !k.is_empty() {
            self.by_id.entry(k).or_default().insert(index);
        }
    }

    /// The stored releases a new one may be, with why.
    fn candidates(&self, release: &Release) -> Vec<(usize, &'static str)> {
        let Some((line, id)) = line_and_id(&release.name) else {
            return Vec::new();
        };
        // A resolution an earlier import recorded (this very id, an alias
        // of exactly one stored release) stands: re-importing a file must
        // resolve it the same way, whatever has been stored since.
        if let Some(recorded) = self.recorded.get(id)
            && recorded.len() == 1
            && let Some(&i) = recorded.iter().next()
            && self.known[i].line == line
        {
            return vec![(i, "the resolution an earlier import recorded")];
        }
        let dates = dates_of(release);
        // One stored release spelling the same id is the release, whatever
        // display names also match: a display name shared by a base and its
        // variant ("GPT-3.5") must not make it ambiguous, nor a date another
        // import adds later decide it the other way.
        let same_id: Vec<usize> = self
            .by_id
            .get(&key(id))
            .into_iter()
            .flatten()
            .copied()
            .filter(|&i| agree(&dates, &self.known[i].dates) != Some(false))
            .collect();
        if let [i] = same_id.as_slice() {
            return vec![(*i, "the same id")];
        }
        let mut found: Vec<(usize, &'static str)> = Vec::new();
        for spelling in [id, release.display_name.as_str()]
            .into_iter()
            .chain(release.aliases.iter().map(String::as_str))
        {
            for &i in self.by_spelling.get(&key(spelling)).into_iter().flatten() {
                if agree(&dates, &self.known[i].dates) != Some(false)
                    && !found.iter().any(|(f, _)| *f == i)
                {
                    found.push((i, "a stored spelling"));
                }
            }
        }
        let own_stem = stem(id);
        for (i, known) in self.known.iter().enumerate() {
            // At least one of the two ids has a date suffix.
            let stems_meet = known.stem == own_stem && (known.stem != known.id || own_stem != id);
            if known.line == line
                && stems_meet
                && agree(&dates, &known.dates) == Some(true)
                && !found.iter().any(|(f, _)| *f == i)
            {
                found.push((i, "the same model line and date"));
            }
        }
        found
    }

    /// Resolves the plan's new releases to stored ones where they are the
    /// same, renames every reference to them in the plan, and reports the
    /// ambiguous ones (with everything that refers to them).
    pub fn resolve(&mut self, plan: &mut Plan) {
        let mut renames: HashMap<String, String> = HashMap::new();
        let mut ambiguous: HashMap<String, String> = HashMap::new();
        // Stored releases the plan already names as they are: a row that
        // would resolve into one of them is a release of its own (the file
        // tells the two apart), never a second claim of this source about
        // the same release in one import.
        let named_as_stored: HashSet<String> = plan
            .rows
            .iter()
            .filter_map(|row| match &row.resource {
                Resource::Release(r) if self.names.contains_key(&r.name) => Some(r.name.clone()),
                _ => None,
            })
            .collect();
        // Stored releases a row of another name resolved into: the name and
        // line of that row.
        let mut taken: HashMap<String, (String, u64)> = HashMap::new();
        for row in &mut plan.rows {
            let Resource::Release(release) = &mut row.resource else {
                continue;
            };
            if self.names.contains_key(&release.name) {
                continue;
            }
            let candidates = self.candidates(release);
            match candidates.as_slice() {
                [] => {}
                [(i, why)] => {
                    let into = self.known[*i].name.clone();
                    // The file names that stored release itself in another
                    // row: it tells the two apart, so this row is a release
                    // of its own, under its own name.
                    if named_as_stored.contains(&into) {
                        continue;
                    }
                    if let Some((other, line)) = taken.get(&into) {
                        ambiguous.insert(
                            release.name.clone(),
                            format!("resolves to {into}, as {other} at line {line} does"),
                        );
                        continue;
                    }
                    taken.insert(into.clone(), (release.name.clone(), row.line));
                    plan.merged.push(Merge {
                        file: row.file.clone(),
                        line: row.line,
                        kind: "releases",
                        name: release.name.clone(),
                        into: into.clone(),
                        why: (*why).to_owned(),
                    });
                    // Its id becomes an alias; its display name is a claim
                    // (the server keeps the names it does not show as
                    // aliases).
                    let (_, id) = line_and_id(&release.name).unwrap_or_default();
                    if !release.aliases.iter().any(|a| a == id) {
                        release.aliases.push(id.to_owned());
                    }
                    release.aliases.sort();
                    renames.insert(release.name.clone(), into.clone());
                    release.name = into;
                }
                many => {
                    let names: Vec<&str> = many
                        .iter()
                        .map(|(i, _)| self.known[*i].name.as_str())
                        .collect();
                    ambiguous.insert(
                        release.name.clone(),
                        format!(
                            "ambiguous: it may be any of {}; add an alias to the right one",
                            names.join(", ")
                        ),
                    );
                }
            }
        }
        for (from, into) in &renames {
            if let Some(stated) = plan.stated.remove(from) {
                plan.stated.insert(into.clone(), stated);
            }
        }
        for row in &mut plan.rows {
            for reference in references(&mut row.resource) {
                if let Some(into) = renames.get(reference.as_str()) {
                    *reference = into.clone();
                }
            }
        }
        if ambiguous.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut plan.rows);
        for mut row in rows {
            let own = match &row.resource {
                Resource::Release(r) => ambiguous.get(&r.name).cloned(),
                _ => None,
            };
            let refers = references(&mut row.resource).into_iter().find_map(|r| {
                ambiguous
                    .get(r.as_str())
                    .map(|why| (r.clone(), why.clone()))
            });
            let kind = super::kind_of(&row.resource);
            let name = super::name_of(&row.resource);
            if let Some(why) = own {
                plan.reject(&row.file, row.line, kind, &name, why);
            } else if let Some((release, why)) = refers {
                plan.reject(
                    &row.file,
                    row.line,
                    kind,
                    &name,
                    format!("its release {release} is {why}"),
                );
            } else {
                plan.rows.push(row);
            }
        }
    }
}

/// The fields of a planned resource that name a release.
fn references(resource: &mut Resource) -> Vec<&mut String> {
    match resource {
        Resource::Release(r) => vec![&mut r.base_release],
        Resource::BenchmarkResult(r) => vec![&mut r.release],
        Resource::Disclosure(d) => vec![&mut d.subject],
        Resource::Offering(o) => vec![&mut o.release],
        Resource::Organization(_)
        | Resource::Model(_)
        | Resource::Benchmark(_)
        | Resource::Indicator(_)
        | Resource::Commitment(_)
        | Resource::TransparencyIndex(_)
        | Resource::Measurement(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::stem;

    #[test]
    fn date_suffixes_are_cut_and_versions_kept() {
        for (id, want) in [
            ("gpt-4o-2024-05-13", "gpt-4o"),
            ("claude-3-haiku-20240307", "claude-3-haiku"),
            ("command-r-plus-04-2024", "command-r-plus"),
            ("gpt-4o-may-2024", "gpt-4o"),
            ("mistral-large-2407", "mistral-large"),
            ("gpt-4o", "gpt-4o"),
            ("llama-3-1-405b", "llama-3-1-405b"),
            ("o3", "o3"),
            ("gemini-2-0-flash-001", "gemini-2-0-flash-001"),
            ("qwen-2-5-72b", "qwen-2-5-72b"),
        ] {
            assert_eq!(stem(id), want, "{id}");
        }
    }
}
