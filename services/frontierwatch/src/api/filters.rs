//! List request filters turned into store queries, each value checked first.

use frontierwatch_proto::v1::{
    DateRange, DisclosureCategory, DisclosureStatus, LifecycleStage, ListBenchmarkResultsRequest,
    ListBenchmarksRequest, ListCommitmentsRequest, ListDisclosuresRequest, ListIndicatorsRequest,
    ListMeasurementsRequest, ListModelsRequest, ListOfferingsRequest, ListOrganizationsRequest,
    ListReleasesRequest, ListTransparencyIndexesRequest, MeasurementMetric, OrganizationKind,
    VerificationStatus,
};

use crate::domain::violations::{check_date, to_naive_date};
use crate::domain::{Kind, Violations};
use crate::error::ApiError;
use crate::storage::filter::{Column, Condition, DateColumn, ListQuery};

/// Collects conditions and the violations of their values.
#[derive(Default)]
struct Builder {
    query: ListQuery,
    violations: Violations,
}

impl Builder {
    fn name(&mut self, field: &str, value: &str, kind: Kind, to: impl FnOnce(String) -> Condition) {
        if value.is_empty() {
            return;
        }
        if kind.is_valid_name(value) {
            self.query.push(to(value.to_owned()));
        } else {
            self.violations.add(
                field,
                format!("must be a resource name of the form {}", kind.pattern()),
            );
        }
    }

    fn text(&mut self, value: &str, column: Column) {
        if !value.is_empty() {
            self.query.push(Condition::Equals(column, value.to_owned()));
        }
    }

    fn enumeration<E: TryFrom<i32>>(
        &mut self,
        field: &str,
        value: i32,
        column: Column,
        name: fn(&E) -> &'static str,
    ) {
        if value == 0 {
            return;
        }
        match E::try_from(value) {
            Ok(e) => self
                .query
                .push(Condition::Equals(column, name(&e).to_owned())),
            Err(_) => self
                .violations
                .add(field, format!("{value} is not a known value")),
        }
    }

    fn dates(&mut self, field: &str, range: Option<&DateRange>, column: DateColumn) {
        let Some(range) = range else { return };
        for (bound, date, to) in [
            (
                "start",
                range.start.as_ref(),
                Condition::DateFrom as fn(_, _) -> _,
            ),
            (
                "end",
                range.end.as_ref(),
                Condition::DateTo as fn(_, _) -> _,
            ),
        ] {
            let Some(date) = date else { continue };
            match check_date(date).ok().and_then(|()| to_naive_date(date)) {
                Some(day) => self.query.push(to(column, day)),
                None => self
                    .violations
                    .add(&format!("{field}.{bound}"), "is not a valid date"),
            }
        }
    }

    fn finish(self) -> Result<ListQuery, ApiError> {
        self.violations.into_result()?;
        Ok(self.query)
    }
}

pub fn organizations(r: &ListOrganizationsRequest) -> Result<ListQuery, ApiError> {
    let mut b = Builder::default();
    b.name(
        "parent_organization",
        &r.parent_organization,
        Kind::Organization,
        |o| Condition::Equals(Column::ParentOrganization, o),
    );
    b.enumeration(
        "kind",
        r.kind,
        Column::OrganizationKind,
        OrganizationKind::as_str_name,
    );
    b.text(&r.country, Column::Country);
    b.finish()
}

pub fn models(r: &ListModelsRequest) -> Result<ListQuery, ApiError> {
    let mut b = Builder::default();
    b.name(
        "developer",
        &r.developer,
        Kind::Organization,
        Condition::HasDeveloper,
    );
    b.finish()
}

pub fn releases(r: &ListReleasesRequest) -> Result<ListQuery, ApiError> {
    let mut b = Builder::default();
    match r.parent.as_str() {
        "" => b
            .violations
            .add("parent", "is required; use models/- for every model line"),
        "models/-" => {}
        parent => b.name("parent", parent, Kind::Model, |m| {
            Condition::Equals(Column::Model, m)
        }),
    }
    b.name(
        "organization",
        &r.organization,
        Kind::Organization,
        Condition::ModelDevelopedBy,
    );
    b.enumeration("stage", r.stage, Column::Stage, LifecycleStage::as_str_name);
    b.dates(
        "release_date_range",
        r.release_date_range.as_ref(),
        DateColumn::ReleaseDate,
    );
    b.finish()
}

pub fn benchmarks(r: &ListBenchmarksRequest) -> Result<ListQuery, ApiError> {
    let mut b = Builder::default();
    b.text(&r.category, Column::BenchmarkCategory);
    b.finish()
}

pub fn benchmark_results(r: &ListBenchmarkResultsRequest) -> Result<ListQuery, ApiError> {
    let mut b = Builder::default();
    b.name("release", &r.release, Kind::Release, |n| {
        Condition::Equals(Column::Release, n)
    });
    b.name("model", &r.model, Kind::Model, |n| {
        Condition::Equals(Column::Model, n)
    });
    b.name(
        "organization",
        &r.organization,
        Kind::Organization,
        Condition::ModelDevelopedBy,
    );
    b.name("benchmark", &r.benchmark, Kind::Benchmark, |n| {
        Condition::Equals(Column::Benchmark, n)
    });
    b.enumeration(
        "verification",
        r.verification,
        Column::Verification,
        VerificationStatus::as_str_name,
    );
    b.dates(
        "publish_date_range",
        r.publish_date_range.as_ref(),
        DateColumn::PublishDate,
    );
    b.finish()
}

pub fn disclosures(r: &ListDisclosuresRequest) -> Result<ListQuery, ApiError> {
    let mut b = Builder::default();
    if !r.subject.is_empty() {
        match Kind::of_name(&r.subject) {
            Some(Kind::Organization | Kind::Model | Kind::Release) => {
                b.query
                    .push(Condition::Equals(Column::Subject, r.subject.clone()));
            }
            _ => b
                .violations
                .add("subject", "must name an organization, a model or a release"),
        }
    }
    b.name(
        "organization",
        &r.organization,
        Kind::Organization,
        Condition::OrganizationOrItsModels,
    );
    b.name("model", &r.model, Kind::Model, |n| {
        Condition::Equals(Column::Model, n)
    });
    b.enumeration(
        "category",
        r.category,
        Column::DisclosureCategory,
        DisclosureCategory::as_str_name,
    );
    b.enumeration(
        "status",
        r.status,
        Column::DisclosureStatus,
        DisclosureStatus::as_str_name,
    );
    b.dates(
        "publish_date_range",
        r.publish_date_range.as_ref(),
        DateColumn::PublishDate,
    );
    b.finish()
}

pub fn indicators(r: &ListIndicatorsRequest) -> Result<ListQuery, ApiError> {
    let mut b = Builder::default();
    b.text(&r.index, Column::IndicatorIndex);
    b.text(&r.domain, Column::IndicatorDomain);
    b.finish()
}

pub fn transparency_indexes(r: &ListTransparencyIndexesRequest) -> Result<ListQuery, ApiError> {
    let mut b = Builder::default();
    b.text(&r.publisher, Column::Publisher);
    b.finish()
}

pub fn commitments(r: &ListCommitmentsRequest) -> Result<ListQuery, ApiError> {
    let mut b = Builder::default();
    b.name("organization", &r.organization, Kind::Organization, |o| {
        Condition::Equals(Column::CommittedBy, o)
    });
    b.name("model", &r.model, Kind::Model, |n| {
        Condition::Equals(Column::Model, n)
    });
    b.finish()
}

pub fn offerings(r: &ListOfferingsRequest) -> Result<ListQuery, ApiError> {
    let mut b = Builder::default();
    b.name("release", &r.release, Kind::Release, |n| {
        Condition::Equals(Column::Release, n)
    });
    b.name("provider", &r.provider, Kind::Organization, |o| {
        Condition::Equals(Column::Provider, o)
    });
    b.finish()
}

pub fn measurements(r: &ListMeasurementsRequest) -> Result<ListQuery, ApiError> {
    let mut b = Builder::default();
    b.name("offering", &r.offering, Kind::Offering, |n| {
        Condition::Equals(Column::Offering, n)
    });
    b.enumeration(
        "metric",
        r.metric,
        Column::Metric,
        MeasurementMetric::as_str_name,
    );
    b.finish()
}
