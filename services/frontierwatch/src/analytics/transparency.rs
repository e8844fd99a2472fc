//! GetTransparencyReport: how much of one edition of a transparency index
//! an organization discloses. One edition at a time: editions are never
//! summed, and an edition is not scored before it was published.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use frontierwatch_proto::v1::*;

use super::cadence::today_or;
use crate::domain::Kind;
use crate::domain::analytics::tally;
use crate::domain::violations::to_naive_date;
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::analytics as queries;

/// The index a report scores.
enum Scored {
    /// An edition, a resource of its own.
    Edition(Box<TransparencyIndex>),
    /// Indicators stored before editions were resources, by their index as
    /// text.
    Text(String),
    /// Nothing to score: no index is stored.
    Nothing,
}

impl Scored {
    /// What the indicators' `kind_detail` holds for this index.
    fn key(&self) -> &str {
        match self {
            Scored::Edition(edition) => &edition.name,
            Scored::Text(text) => text,
            Scored::Nothing => "",
        }
    }
}

/// The index asked for, or the most recent edition as of the date.
async fn scored(store: &Store, index: &str, as_of: NaiveDate) -> Result<Scored, ApiError> {
    if Kind::TransparencyIndex.is_valid_name(index) {
        return Ok(Scored::Edition(Box::new(store.get(index).await?)));
    }
    let editions = queries::transparency_indexes(store.pool()).await?;
    if !index.is_empty() {
        // An edition by its display name, exactly as stored.
        if let Some(edition) = editions.iter().find(|e| e.display_name == index) {
            return Ok(Scored::Edition(Box::new(edition.clone())));
        }
        let texts = queries::indicator_index_texts(store.pool()).await?;
        if texts.iter().any(|t| t == index) {
            return Ok(Scored::Text(index.to_owned()));
        }
        return Err(ApiError::NotFound {
            name: index.to_owned(),
        });
    }
    let dated = |e: &TransparencyIndex| e.edition_date.as_ref().and_then(to_naive_date);
    let published = editions
        .iter()
        .filter(|e| dated(e).is_some_and(|d| d <= as_of))
        .max_by_key(|e| (dated(e), e.name.clone()));
    if let Some(edition) = published {
        return Ok(Scored::Edition(Box::new(edition.clone())));
    }
    if let Some(first) = editions.iter().min_by_key(|e| dated(e)) {
        // Editions exist, none yet as of the date.
        return Ok(Scored::Edition(Box::new(first.clone())));
    }
    let mut texts = queries::indicator_index_texts(store.pool()).await?;
    match texts.len() {
        0 => Ok(Scored::Nothing),
        1 => Ok(Scored::Text(texts.remove(0))),
        _ => Err(ApiError::invalid(
            "index",
            format!(
                "is required: indicators of several indexes are stored ({}), and they are never summed",
                texts.join(", ")
            ),
        )),
    }
}

/// How much of one edition of a transparency index (`index`: its name,
/// its display name, the index text of older indicators, or empty for the
/// most recent edition as of the date) the organization discloses.
pub async fn transparency(
    store: &Store,
    organization: String,
    index: String,
    as_of: Option<chrono::NaiveDate>,
) -> Result<TransparencyReport, ApiError> {
    store.get::<Organization>(&organization).await?;
    let on = today_or(as_of);
    let scored = scored(store, &index, on).await?;
    if let Scored::Edition(edition) = &scored
        && let Some(published) = edition.edition_date.as_ref().and_then(to_naive_date)
        && published > on
    {
        return Err(ApiError::IndexNotYetPublished {
            name: edition.name.clone(),
            published: published.to_string(),
            as_of: on.to_string(),
        });
    }
    let edition = match &scored {
        Scored::Edition(edition) => Some(edition.name.as_str()),
        Scored::Text(_) | Scored::Nothing => None,
    };
    // The edition's indicators by the code disclosures name them with; ids
    // map to codes for disclosures that name an indicator by its id.
    let mut indicators: HashMap<String, (String, String)> = HashMap::new();
    let mut code_of_id: HashMap<String, String> = HashMap::new();
    if !matches!(scored, Scored::Nothing) {
        for i in queries::indicators(store.pool(), Some(scored.key())).await? {
            let id = i.name.trim_start_matches("indicators/").to_owned();
            let code = if i.code.is_empty() {
                id.clone()
            } else {
                i.code.clone()
            };
            code_of_id.insert(id, code.clone());
            indicators.insert(code, (i.domain, i.subdomain));
        }
    }
    // The latest disclosure per indicator, as of the date.
    let mut latest: HashMap<String, (Option<NaiveDate>, bool)> = HashMap::new();
    for d in queries::disclosures_about(store.pool(), &organization).await? {
        if d.indicator_code.is_empty() {
            continue;
        }
        let code = if d.transparency_index.is_empty() {
            code_of_id.get(&d.indicator_code).cloned()
        } else if Some(d.transparency_index.as_str()) == edition {
            Some(d.indicator_code.clone())
        } else {
            None
        };
        let Some(code) = code.filter(|c| indicators.contains_key(c)) else {
            continue;
        };
        let published = d.publish_date.as_ref().and_then(to_naive_date);
        if as_of.is_some_and(|as_of| published.is_none_or(|p| p > as_of)) {
            continue;
        }
        let disclosed = d.status == DisclosureStatus::Disclosed as i32;
        if latest.get(&code).is_none_or(|(when, _)| published >= *when) {
            latest.insert(code, (published, disclosed));
        }
    }
    let latest: HashMap<String, bool> = latest.into_iter().map(|(k, (_, d))| (k, d)).collect();
    // No disclosure at all, disclosed or not, on the edition's indicators:
    // the edition did not assess the organization.
    if latest.is_empty() {
        return Ok(TransparencyReport {
            organization,
            index: scored.key().to_owned(),
            assessed: false,
            ..Default::default()
        });
    }
    let tally = tally(&indicators, &latest);
    let score = |domain: &str, subdomain: &str, disclosed: i32, total: i32| TransparencyScore {
        domain: domain.to_owned(),
        subdomain: subdomain.to_owned(),
        disclosed,
        indicators: total,
        share: if total == 0 {
            0.0
        } else {
            f64::from(disclosed) / f64::from(total)
        },
    };
    let mut domains: BTreeMap<&str, (i32, i32)> = BTreeMap::new();
    let mut subdomains = Vec::new();
    let (mut disclosed, mut total) = (0, 0);
    for ((domain, subdomain), (d, t)) in &tally {
        let entry = domains.entry(domain.as_str()).or_default();
        entry.0 += d;
        entry.1 += t;
        disclosed += d;
        total += t;
        subdomains.push(score(domain, subdomain, *d, *t));
    }
    Ok(TransparencyReport {
        organization,
        index: scored.key().to_owned(),
        overall: Some(score("", "", disclosed, total)),
        domains: domains
            .into_iter()
            .map(|(domain, (d, t))| score(domain, "", d, t))
            .collect(),
        subdomains,
        assessed: true,
    })
}
