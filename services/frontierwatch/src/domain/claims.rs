//! Merging what several sources state about one resource.
//!
//! Every import states a *claim*: the resource as one source (a dataset, a
//! vendor's page) describes it. A resource that several sources describe
//! holds the merge of their claims, and the merge is a function of the set
//! of claims alone, so the order of imports never changes the result:
//!
//! - a field only one claim sets takes that value;
//! - repeated fields (aliases, developers, access, ...) are the union of the
//!   claims' items, and the sources of `provenance` the union by URI;
//! - where claims disagree on a field, the value of the claim with the
//!   highest precedence wins and the field is listed in `conflicts` with
//!   every value and who stated it. Precedence: a person's settlement, then
//!   the authority of the claim's source (the developer's own publication
//!   over a third-party leaderboard over the press over a dataset), then a
//!   more precise date over a less precise one, then the value more claims
//!   state, then the claim that sets more fields (the fuller record), then
//!   the claimant's name;
//! - display names that sources state but the resource does not show
//!   become aliases;
//! - a person settles a field by updating it: the settlement is a claim of
//!   its own that only ever decides the fields it names.

use std::cmp::Reverse;

use frontierwatch_proto::v1::{
    ApproximateDate, DatePrecision, FieldClaim, FieldConflict, Provenance, Source, SourceKind,
};
use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, ReflectMessage, Value};

use super::reflect::{descriptor, to_dynamic};
use super::{Meta, Resource};
use crate::error::ApiError;

/// The claimant of a person's settlement through Update.
pub const SETTLED: &str = "settled";

/// How much a claim's source weighs: lower wins.
pub type Authority = i16;

/// The authority of a settlement: above every source.
pub const SETTLEMENT: Authority = 0;

/// The authority of a source of this kind.
pub fn authority_of(kind: i32) -> Authority {
    match SourceKind::try_from(kind) {
        Ok(
            SourceKind::VendorAnnouncement
            | SourceKind::SystemCard
            | SourceKind::Paper
            | SourceKind::SocialMediaPost,
        ) => 1,
        Ok(SourceKind::ThirdPartyLeaderboard) => 2,
        Ok(SourceKind::Press) => 3,
        Ok(SourceKind::Dataset) => 4,
        Ok(SourceKind::Unspecified) | Err(_) => 5,
    }
}

/// One source's statement about a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim<T> {
    /// Who states it: a source's publisher, or its URI when it names none.
    pub claimant: String,
    pub authority: Authority,
    /// A settlement decides exactly these fields (set or cleared); `None`
    /// for a source's claim, which states the fields it sets.
    pub fields: Option<Vec<String>>,
    /// The resource as claimed, without output-only fields.
    pub resource: T,
}

/// Fields that belong to the stored resource, not to any claim.
const OUTPUT_ONLY: &[&str] = &["name", "create_time", "update_time", "etag", "conflicts"];

/// The resource without its output-only fields: what a claim states.
pub fn content<T: Resource>(resource: &T) -> T {
    let mut content = resource.clone();
    content.set_meta(Meta {
        name: resource.name().to_owned(),
        ..Meta::default()
    });
    content.set_conflicts(Vec::new());
    content
}

fn claimant_of_source(source: &Source) -> (String, Authority) {
    let who = if source.publisher.trim().is_empty() {
        source.uri.clone()
    } else {
        source.publisher.clone()
    };
    (who, authority_of(source.kind))
}

/// The provenance a resource carries, if its kind has one, read from its
/// encoding: only that field is decoded (an import asks it of every item,
/// and converting the whole resource to a dynamic message cost more than
/// the rest of the claim).
fn provenance_of_resource<T: Resource>(resource: &T) -> Result<Option<Provenance>, ApiError> {
    let Some(field) = descriptor::<T>()?.get_field_by_name("provenance") else {
        return Ok(None);
    };
    let encoded = resource.encode_to_vec();
    let mut provenance: Option<Provenance> = None;
    for read in super::wire::fields(&encoded) {
        let Ok((number, value)) = read else {
            break;
        };
        if number == field.number()
            && let super::wire::Value::Delimited(bytes) = value
        {
            // A message field met twice merges, as protobuf decodes it.
            provenance
                .get_or_insert_default()
                .merge(bytes)
                .map_err(|e| {
                    ApiError::Internal(
                        anyhow::Error::new(e).context("a provenance does not decode"),
                    )
                })?;
        }
    }
    Ok(provenance)
}

/// The provenance a message carries, if its kind has one.
fn provenance_of(message: &DynamicMessage) -> Option<Provenance> {
    match message.get_field_by_name("provenance")?.as_ref() {
        Value::Message(inner) => inner.transcode_to().ok(),
        _ => None,
    }
}

/// Who a resource's claim is from: the import's own source when it names
/// one, else the resource's first dataset source, else its first source.
pub fn claimant<T: Resource>(
    resource: &T,
    import_source: Option<&Source>,
) -> Result<(String, Authority), ApiError> {
    if let Some(source) = import_source.filter(|s| !s.uri.is_empty() || !s.publisher.is_empty()) {
        return Ok(claimant_of_source(source));
    }
    let sources = provenance_of_resource(resource)?
        .map(|p| p.sources)
        .unwrap_or_default();
    let chosen = sources
        .iter()
        .find(|s| s.kind == SourceKind::Dataset as i32)
        .or_else(|| sources.first());
    Ok(chosen.map_or_else(
        || ("unattributed".to_owned(), authority_of(0)),
        claimant_of_source,
    ))
}

/// How precise a value is, when it is an approximate date: lower is more
/// precise. Other values are all equally precise.
fn precision_rank(value: &Value) -> i32 {
    let Value::Message(message) = value else {
        return 0;
    };
    if message.descriptor().full_name() != "frontierwatch.v1.ApproximateDate" {
        return 0;
    }
    let Ok(date) = message.transcode_to::<ApproximateDate>() else {
        return 0;
    };
    match DatePrecision::try_from(date.precision) {
        Ok(DatePrecision::Day) => 1,
        Ok(DatePrecision::Month) => 2,
        Ok(DatePrecision::Quarter) => 3,
        Ok(DatePrecision::Year) => 4,
        Ok(DatePrecision::Unspecified) | Err(_) => match date.date {
            Some(d) if d.day != 0 => 1,
            Some(d) if d.month != 0 => 2,
            _ => 4,
        },
    }
}

/// A claim in its dynamic form, with what the merge needs of it.
struct Stated<'a> {
    claimant: &'a str,
    authority: Authority,
    fields: Option<&'a [String]>,
    message: DynamicMessage,
    source_uris: Vec<String>,
    /// How many single-valued fields it sets: the fuller record wins a tie.
    /// (Lists and sources are merged, not chosen, so they do not count.)
    richness: usize,
}

impl Stated<'_> {
    /// Whether this claim says anything about `field`.
    fn states(&self, field: &FieldDescriptor) -> bool {
        match self.fields {
            Some(fields) => fields.iter().any(|f| f == field.name()),
            None => self.message.has_field(field),
        }
    }

    fn decides(&self, field: &FieldDescriptor) -> bool {
        self.fields.is_some() && self.states(field)
    }
}

/// The resource that a set of claims describes, with its conflicts. The
/// claims' order does not matter.
pub fn merge<T: Resource>(name: &str, claims: &[Claim<T>]) -> Result<T, ApiError> {
    let desc = descriptor::<T>()?;
    let mut stated = Vec::with_capacity(claims.len());
    for claim in claims {
        let message = to_dynamic(&claim.resource)?;
        let source_uris = provenance_of(&message)
            .map(|p| p.sources.into_iter().map(|s| s.uri).collect())
            .unwrap_or_default();
        stated.push(Stated {
            claimant: &claim.claimant,
            authority: claim.authority,
            fields: claim.fields.as_deref(),
            richness: message
                .fields()
                .filter(|(f, _)| !f.is_list() && !OUTPUT_ONLY.contains(&f.name()))
                .filter(|(f, _)| f.name() != "provenance")
                .count(),
            message,
            source_uris,
        });
    }
    stated.sort_by(|a, b| (a.authority, a.claimant).cmp(&(b.authority, b.claimant)));

    let mut merged = DynamicMessage::new(desc.clone());
    let mut conflicts = Vec::new();
    for field in desc.fields() {
        if OUTPUT_ONLY.contains(&field.name()) {
            continue;
        }
        if let Some(settlement) = stated.iter().find(|s| s.decides(&field)) {
            let value = settlement.message.get_field(&field).into_owned();
            merged.set_field(&field, value);
            if let Some(conflict) = conflict_of(&desc, &field, &stated)? {
                conflicts.push(conflict);
            }
            continue;
        }
        if field.is_list() {
            let mut items: Vec<Value> = Vec::new();
            for s in stated.iter().filter(|s| s.states(&field)) {
                if let Value::List(list) = s.message.get_field(&field).as_ref() {
                    for item in list {
                        if !items.contains(item) {
                            items.push(item.clone());
                        }
                    }
                }
            }
            if !items.is_empty() {
                merged.set_field(&field, Value::List(items));
            }
            continue;
        }
        if field.name() == "provenance" {
            let mut sources: Vec<Source> = Vec::new();
            for s in &stated {
                for source in provenance_of(&s.message)
                    .map(|p| p.sources)
                    .unwrap_or_default()
                {
                    if !sources.iter().any(|known| known.uri == source.uri) {
                        sources.push(source);
                    }
                }
            }
            if !sources.is_empty() {
                let provenance = to_dynamic(&Provenance { sources })?;
                merged.set_field(&field, Value::Message(provenance));
            }
            continue;
        }
        let groups = groups_of(&field, &stated);
        if let Some(best) = groups.first() {
            merged.set_field(&field, best.value.clone());
        }
        if groups.len() > 1 {
            conflicts.push(conflict(&desc, &field, &stated, &groups, false)?);
        }
    }
    other_names_are_aliases(&desc, &mut merged, &stated);
    let mut resource: T = merged.transcode_to().map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context("a merged resource does not transcode"))
    })?;
    resource.set_meta(Meta {
        name: name.to_owned(),
        ..Meta::default()
    });
    resource.set_conflicts(conflicts);
    Ok(resource)
}

/// The display names sources state but the resource does not show become
/// its aliases: they are spellings sources use (so the set of a resource's
/// names, too, is the same whichever source came first).
fn other_names_are_aliases(
    desc: &prost_reflect::MessageDescriptor,
    merged: &mut DynamicMessage,
    stated: &[Stated<'_>],
) {
    let (Some(display), Some(aliases)) = (
        desc.get_field_by_name("display_name"),
        desc.get_field_by_name("aliases"),
    ) else {
        return;
    };
    if !aliases.is_list() || stated.iter().any(|s| s.decides(&aliases)) {
        return;
    }
    let shown = merged.get_field(&display).into_owned();
    let mut list = match merged.get_field(&aliases).as_ref() {
        Value::List(list) => list.clone(),
        _ => Vec::new(),
    };
    let before = list.len();
    for group in groups_of(&display, stated) {
        if group.value != shown && !list.contains(&group.value) {
            list.push(group.value);
        }
    }
    if list.len() > before {
        merged.set_field(&aliases, Value::List(list));
    }
}

/// The claims that state one value of a field.
struct Group {
    value: Value,
    /// Indexes into the sorted claims, in order.
    claims: Vec<usize>,
}

/// The values the sources (not settlements) state for a field, the one
/// with the highest precedence first.
fn groups_of(field: &FieldDescriptor, stated: &[Stated<'_>]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (i, s) in stated.iter().enumerate() {
        if s.fields.is_some() || !s.states(field) {
            continue;
        }
        let value = s.message.get_field(field).into_owned();
        match groups.iter_mut().find(|g| g.value == value) {
            Some(group) => group.claims.push(i),
            None => groups.push(Group {
                value,
                claims: vec![i],
            }),
        }
    }
    // Claims are sorted by authority, then claimant: a group's first claim
    // is its strongest.
    groups.sort_by_key(|g| {
        (
            stated[g.claims[0]].authority,
            precision_rank(&g.value),
            Reverse(g.claims.len()),
            Reverse(stated[g.claims[0]].richness),
            g.claims[0],
        )
    });
    groups
}

/// The conflict on a field a settlement decides, if the sources disagree
/// with each other or with the settlement.
fn conflict_of(
    desc: &prost_reflect::MessageDescriptor,
    field: &FieldDescriptor,
    stated: &[Stated<'_>],
) -> Result<Option<FieldConflict>, ApiError> {
    let mut groups = groups_of(field, stated);
    let Some(settlement) = stated.iter().position(|s| s.decides(field)) else {
        return Ok(None);
    };
    let value = stated[settlement].message.get_field(field).into_owned();
    match groups.iter().position(|g| g.value == value) {
        Some(i) => {
            let mut group = groups.remove(i);
            group.claims.insert(0, settlement);
            groups.insert(0, group);
        }
        None => groups.insert(
            0,
            Group {
                value,
                claims: vec![settlement],
            },
        ),
    }
    if groups.len() < 2 {
        return Ok(None);
    }
    conflict(desc, field, stated, &groups, true).map(Some)
}

fn conflict(
    desc: &prost_reflect::MessageDescriptor,
    field: &FieldDescriptor,
    stated: &[Stated<'_>],
    groups: &[Group],
    settled: bool,
) -> Result<FieldConflict, ApiError> {
    let mut claims = Vec::with_capacity(groups.len());
    for (i, group) in groups.iter().enumerate() {
        let mut source_uris: Vec<String> = Vec::new();
        for uri in group.claims.iter().flat_map(|&c| &stated[c].source_uris) {
            if !source_uris.contains(uri) {
                source_uris.push(uri.clone());
            }
        }
        claims.push(FieldClaim {
            value: json_of(desc, field, &group.value)?,
            claimants: group
                .claims
                .iter()
                .map(|&c| stated[c].claimant.to_owned())
                .collect(),
            source_uris,
            current: i == 0,
        });
    }
    Ok(FieldConflict {
        field: field.name().to_owned(),
        claims,
        settled,
    })
}

/// A field's value in protobuf JSON, as grpcurl would show it.
fn json_of(
    desc: &prost_reflect::MessageDescriptor,
    field: &FieldDescriptor,
    value: &Value,
) -> Result<String, ApiError> {
    let mut holder = DynamicMessage::new(desc.clone());
    holder.set_field(field, value.clone());
    let json = serde_json::to_value(&holder)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("a claim's value")))?;
    Ok(json
        .get(field.json_name())
        .map_or_else(|| "null".to_owned(), ToString::to_string))
}

#[cfg(test)]
#[path = "claims_tests.rs"]
mod tests;
