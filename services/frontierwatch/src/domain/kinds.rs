//! The rules, references and filter columns of each kind of resource.

use frontierwatch_proto::v1::{
    AccessFilter, AccessKind, Benchmark, BenchmarkResult, Commitment, CommitmentPeriod, Disclosure,
    DisclosureCategory, DisclosureStatus, EvaluatorRelation, Indicator, LifecycleStage, Model,
    Organization, OrganizationKind, Release, TransparencyIndex, VerificationStatus,
};

use super::common::{date, enum_name, meta_accessors, refs_of, some};
use super::names::model_of_release;
use super::{Index, Kind, Ref, Resource, Scale, ScoreClaim, Violations};

impl Resource for Organization {
    const KIND: Kind = Kind::Organization;
    const FIELD: &'static str = "organization";
    meta_accessors!();

    fn validate(&self, v: &mut Violations) {
        v.require("display_name", &self.display_name);
        v.aliases("aliases", &self.aliases);
        let is_alpha2 =
            self.country.len() == 2 && self.country.bytes().all(|b| b.is_ascii_uppercase());
        if !self.country.is_empty() && !is_alpha2 {
            v.add("country", "must be an ISO 3166-1 alpha-2 code such as US");
        }
        v.url("website", &self.website);
        v.name_of("parent", &self.parent, Kind::Organization);
        if !self.parent.is_empty() && self.parent == self.name {
            v.add("parent", "an organization cannot own itself");
        }
    }

    fn refs(&self) -> Vec<Ref> {
        refs_of("parent", std::slice::from_ref(&self.parent))
    }

    fn index(&self) -> Index {
        Index {
            parent_organization: some(&self.parent),
            organization_kind: enum_name(self.kind, OrganizationKind::as_str_name),
            country: some(&self.country),
            ..Index::default()
        }
    }
}

impl Resource for Model {
    const KIND: Kind = Kind::Model;
    const FIELD: &'static str = "model";
    meta_accessors!();

    fn validate(&self, v: &mut Violations) {
        v.require("display_name", &self.display_name);
        v.aliases("aliases", &self.aliases);
        if self.developers.is_empty() {
            v.add(
                "developers",
                "at least one developer organization is required",
            );
        }
        for (i, developer) in self.developers.iter().enumerate() {
            let field = format!("developers[{i}]");
            v.require(&field, developer);
            v.name_of(&field, developer, Kind::Organization);
            if self.developers[..i].contains(developer) {
                v.add(&field, "duplicates an earlier developer");
            }
        }
    }

    fn refs(&self) -> Vec<Ref> {
        refs_of("developers", &self.developers)
    }

    fn index(&self) -> Index {
        Index {
            developers: self.developers.clone(),
            ..Index::default()
        }
    }
}

impl Resource for Release {
    const KIND: Kind = Kind::Release;
    const FIELD: &'static str = "release";
    meta_accessors!();

    fn validate(&self, v: &mut Violations) {
        v.require("display_name", &self.display_name);
        v.aliases("aliases", &self.aliases);
        v.approximate_date("announce_date", self.announce_date.as_ref());
        v.approximate_date("release_date", self.release_date.as_ref());
        for (i, change) in self.stage_history.iter().enumerate() {
            v.approximate_date(&format!("stage_history[{i}].date"), change.date.as_ref());
        }
        v.name_of("base_release", &self.base_release, Kind::Release);
        if !self.base_release.is_empty() && self.base_release == self.name {
            v.add("base_release", "a release cannot derive from itself");
        }
        v.estimate("parameter_count", self.parameter_count.as_ref());
        v.estimate("training_compute_flop", self.training_compute_flop.as_ref());
        v.estimate(
            "active_parameter_count",
            self.active_parameter_count.as_ref(),
        );
        v.estimate("training_tokens", self.training_tokens.as_ref());
        v.approximate_date("knowledge_cutoff", self.knowledge_cutoff.as_ref());
        if let Some(licence) = &self.licence {
            v.require("licence.name", &licence.name);
        }
        v.provenance("provenance", self.provenance.as_ref());
    }

    fn refs(&self) -> Vec<Ref> {
        let mut refs = refs_of(
            "parent",
            &model_of_release(&self.name).into_iter().collect::<Vec<_>>(),
        );
        refs.extend(refs_of(
            "base_release",
            std::slice::from_ref(&self.base_release),
        ));
        refs
    }

    fn index(&self) -> Index {
        Index {
            model: model_of_release(&self.name),
            stage: enum_name(self.stage, LifecycleStage::as_str_name),
            release_date: date(self.release_date.as_ref().and_then(|d| d.date.as_ref())),
            weights: Some(weights(&self.access).to_owned()),
            ..Index::default()
        }
    }
}

/// The releases an access filter counts: those with these `weights` (see
/// [`weights`]); every release when none.
pub fn weights_of(access: AccessFilter) -> Option<&'static str> {
    match access {
        AccessFilter::Unspecified => None,
        AccessFilter::OpenWeights => Some("open"),
        AccessFilter::Proprietary => Some("closed"),
    }
}

/// A release's weights as its access states them (the `weights` column).
pub fn weights(access: &[i32]) -> &'static str {
    if access.contains(&(AccessKind::OpenWeights as i32)) {
        "open"
    } else if access.iter().any(|&a| a != AccessKind::Unspecified as i32) {
        "closed"
    } else {
        "unstated"
    }
}

/// Evaluation settings, of a result or a benchmark's canonical ones.
fn validate_settings(
    v: &mut Violations,
    field: &str,
    settings: Option<&frontierwatch_proto::v1::EvaluationSettings>,
) {
    let Some(settings) = settings else { return };
    if settings.shots.is_some_and(|s| s < 0) {
        v.add(&format!("{field}.shots"), "must not be negative");
    }
    if settings.pass_at_k.is_some_and(|k| k < 1) {
        v.add(&format!("{field}.pass_at_k"), "must be at least 1");
    }
}

impl Resource for Benchmark {
    const KIND: Kind = Kind::Benchmark;
    const FIELD: &'static str = "benchmark";
    meta_accessors!();

    fn validate(&self, v: &mut Violations) {
        v.require("display_name", &self.display_name);
        v.aliases("aliases", &self.aliases);
        validate_settings(v, "canonical_settings", self.canonical_settings.as_ref());
    }

    fn refs(&self) -> Vec<Ref> {
        Vec::new()
    }

    fn index(&self) -> Index {
        Index {
            benchmark_category: some(&self.category),
            ..Index::default()
        }
    }

    fn scale(&self) -> Option<Scale> {
        Some(Scale::of(self.scale))
    }
}

impl Resource for BenchmarkResult {
    const KIND: Kind = Kind::BenchmarkResult;
    const FIELD: &'static str = "benchmark_result";
    const IMMUTABLE: &'static [&'static str] = &["release", "benchmark"];
    meta_accessors!();

    fn validate(&self, v: &mut Violations) {
        v.require("release", &self.release);
        v.name_of("release", &self.release, Kind::Release);
        v.require("benchmark", &self.benchmark);
        v.name_of("benchmark", &self.benchmark, Kind::Benchmark);
        v.name_of("evaluator", &self.evaluator, Kind::Organization);
        if !self.score.is_finite() {
            v.add("score", "must be a finite number");
        }
        if let Some(se) = self.standard_error
            && (!se.is_finite() || se < 0.0)
        {
            v.add("standard_error", "must be a finite non-negative number");
        }
        if let Some(ci) = &self.confidence_interval {
            if !(ci.low.is_finite() && ci.high.is_finite() && ci.low <= ci.high) {
                v.add("confidence_interval", "low must not exceed high");
            }
            if !(ci.level > 0.0 && ci.level < 1.0) {
                v.add(
                    "confidence_interval.level",
                    "must lie strictly between 0 and 1",
                );
            }
        }
        validate_settings(v, "settings", self.settings.as_ref());
        v.date("measure_date", self.measure_date.as_ref());
        v.date("publish_date", self.publish_date.as_ref());
        v.provenance("provenance", self.provenance.as_ref());
    }

    fn refs(&self) -> Vec<Ref> {
        let mut refs = refs_of("release", std::slice::from_ref(&self.release));
        refs.extend(refs_of("benchmark", std::slice::from_ref(&self.benchmark)));
        refs.extend(refs_of("evaluator", std::slice::from_ref(&self.evaluator)));
        refs
    }

    fn index(&self) -> Index {
        Index {
            model: model_of_release(&self.release),
            release: some(&self.release),
            benchmark: some(&self.benchmark),
            evaluator: some(&self.evaluator),
            verification: enum_name(self.verification, VerificationStatus::as_str_name),
            publish_date: date(self.publish_date.as_ref()),
            score: Some(self.score),
            settings_key: Some(super::analytics::settings_key(self.settings.as_ref())),
            relation: enum_name(self.evaluator_relation, EvaluatorRelation::as_str_name),
            ..Index::default()
        }
    }

    fn score_claim(&self) -> Option<ScoreClaim> {
        let mut values = vec![("score", self.score)];
        if let Some(ci) = &self.confidence_interval {
            values.push(("confidence_interval.low", ci.low));
            values.push(("confidence_interval.high", ci.high));
        }
        Some(ScoreClaim {
            benchmark: self.benchmark.clone(),
            values,
        })
    }
}

impl Resource for Disclosure {
    const KIND: Kind = Kind::Disclosure;
    const FIELD: &'static str = "disclosure";
    const IMMUTABLE: &'static [&'static str] = &["subject"];
    meta_accessors!();

    fn validate(&self, v: &mut Violations) {
        v.require("subject", &self.subject);
        if !self.subject.is_empty()
            && !matches!(
                Kind::of_name(&self.subject),
                Some(Kind::Organization | Kind::Model | Kind::Release)
            )
        {
            v.add("subject", "must name an organization, a model or a release");
        }
        if self.category == DisclosureCategory::Unspecified as i32 {
            v.add("category", "is required");
        }
        if self.status == DisclosureStatus::Unspecified as i32 {
            v.add("status", "is required");
        }
        v.date("publish_date", self.publish_date.as_ref());
        v.provenance("provenance", self.provenance.as_ref());
        v.name_of(
            "transparency_index",
            &self.transparency_index,
            Kind::TransparencyIndex,
        );
        if !self.transparency_index.is_empty() && self.indicator_code.is_empty() {
            v.add(
                "indicator_code",
                "is required with transparency_index: the code of the indicator answered",
            );
        }
    }

    fn refs(&self) -> Vec<Ref> {
        let mut refs = refs_of("subject", std::slice::from_ref(&self.subject));
        refs.extend(refs_of(
            "transparency_index",
            std::slice::from_ref(&self.transparency_index),
        ));
        refs
    }

    fn index(&self) -> Index {
        let subject_kind = Kind::of_name(&self.subject);
        let model = match subject_kind {
            Some(Kind::Model) => some(&self.subject),
            Some(Kind::Release) => model_of_release(&self.subject),
            _ => None,
        };
        Index {
            model,
            subject: some(&self.subject),
            disclosure_category: enum_name(self.category, DisclosureCategory::as_str_name),
            disclosure_status: enum_name(self.status, DisclosureStatus::as_str_name),
            publish_date: date(self.publish_date.as_ref()),
            ..Index::default()
        }
    }
}

impl Resource for Indicator {
    const KIND: Kind = Kind::Indicator;
    const FIELD: &'static str = "indicator";
    const IMMUTABLE: &'static [&'static str] = &["transparency_index"];
    meta_accessors!();

    fn validate(&self, v: &mut Violations) {
        v.require("display_name", &self.display_name);
        if self.transparency_index.is_empty() {
            v.require("index", &self.index);
        }
        v.name_of(
            "transparency_index",
            &self.transparency_index,
            Kind::TransparencyIndex,
        );
    }

    fn refs(&self) -> Vec<Ref> {
        refs_of(
            "transparency_index",
            std::slice::from_ref(&self.transparency_index),
        )
    }

    fn index(&self) -> Index {
        // The edition when there is one, else the index as text: what
        // ListIndicators' `index` filter names.
        let index = if self.transparency_index.is_empty() {
            &self.index
        } else {
            &self.transparency_index
        };
        Index {
            indicator_domain: some(&self.domain),
            indicator_index: some(index),
            indicator_subdomain: some(&self.subdomain),
            ..Index::default()
        }
    }
}

impl Resource for TransparencyIndex {
    const KIND: Kind = Kind::TransparencyIndex;
    const FIELD: &'static str = "transparency_index";
    meta_accessors!();

    fn validate(&self, v: &mut Violations) {
        v.require("display_name", &self.display_name);
        v.require("publisher", &self.publisher);
        match &self.edition_date {
            None => v.add("edition_date", "is required"),
            Some(d) if d.month == 0 => v.add(
                "edition_date",
                "must name at least the month (day 0 when only the month is known)",
            ),
            Some(d) => v.date("edition_date", Some(d)),
        }
    }

    fn refs(&self) -> Vec<Ref> {
        Vec::new()
    }

    fn index(&self) -> Index {
        Index {
            publisher: some(&self.publisher),
            edition_date: date(self.edition_date.as_ref()),
            ..Index::default()
        }
    }
}

impl Resource for Commitment {
    const KIND: Kind = Kind::Commitment;
    const FIELD: &'static str = "commitment";
    meta_accessors!();

    fn validate(&self, v: &mut Violations) {
        v.require("organization", &self.organization);
        v.name_of("organization", &self.organization, Kind::Organization);
        v.name_of("model", &self.model, Kind::Model);
        v.require("promise", &self.promise);
        v.provenance("provenance", self.provenance.as_ref());
        if self.period == CommitmentPeriod::Unspecified as i32 {
            v.add("period", "is required");
        }
        match &self.start_date {
            None => v.add("start_date", "is required"),
            Some(d) if d.day == 0 => v.add("start_date", "must be a full date"),
            Some(d) => v.date("start_date", Some(d)),
        }
        v.date("end_date", self.end_date.as_ref());
        v.date("made_date", self.made_date.as_ref());
        if let (Some(start), Some(end)) =
            (date(self.start_date.as_ref()), date(self.end_date.as_ref()))
            && end < start
        {
            v.add("end_date", "must not be before start_date");
        }
        if !(0..=366).contains(&self.grace_days) {
            v.add("grace_days", "must be between 0 and 366");
        }
    }

    fn refs(&self) -> Vec<Ref> {
        let mut refs = refs_of("organization", std::slice::from_ref(&self.organization));
        refs.extend(refs_of("model", std::slice::from_ref(&self.model)));
        refs
    }

    fn index(&self) -> Index {
        Index {
            committed_by: some(&self.organization),
            model: some(&self.model),
            ..Index::default()
        }
    }
}
