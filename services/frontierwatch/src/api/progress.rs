//! Progress over time: GetRecordProgression and GetModelLineQuality
//! validated into the analytics layer's questions, answered from the
//! record as known then with `known_as_of`.

use frontierwatch_proto::v1::*;

use super::analytics::{Counted, access_filter, required_name};
use super::history::answer;
use crate::analytics::{self, LineQualityQuery, ProgressionQuery};
use crate::domain::{Kind, Violations};
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::known::Results;

pub async fn progression(
    store: &Store,
    r: GetRecordProgressionRequest,
) -> Result<RecordProgression, ApiError> {
    let mut v = Violations::default();
    required_name(&mut v, "benchmark", &r.benchmark, Kind::Benchmark);
    // Each line sets the filter's access itself.
    let filter = Counted {
        as_of: r.as_of.as_ref(),
        evaluators: r.evaluators,
        include_disputed: r.include_disputed,
        access: AccessFilter::Unspecified as i32,
    }
    .filter(&mut v);
    let access = access_filter(r.access, &mut v);
    if r.settings_key.len() > 1024 {
        v.add("settings_key", "must be at most 1024 characters");
    }
    v.into_result()?;
    let query = ProgressionQuery {
        benchmark: r.benchmark,
        filter,
        lines: if r.split_access {
            vec![AccessFilter::OpenWeights, AccessFilter::Proprietary]
        } else {
            vec![access]
        },
        settings_key: (!r.settings_key.is_empty()).then_some(r.settings_key),
    };
    let results = Results::OfBenchmark(query.benchmark.clone());
    answer(store, r.known_as_of.as_ref(), &results, async |store| {
        analytics::progression(store, &query).await
    })
    .await
}

pub async fn line_quality(
    store: &Store,
    r: GetModelLineQualityRequest,
) -> Result<ModelLineQuality, ApiError> {
    let mut v = Violations::default();
    required_name(&mut v, "model", &r.model, Kind::Model);
    let filter = Counted {
        as_of: r.as_of.as_ref(),
        evaluators: r.evaluators,
        include_disputed: r.include_disputed,
        access: AccessFilter::Unspecified as i32,
    }
    .filter(&mut v);
    if !r.regression_threshold.is_finite() || r.regression_threshold < 0.0 {
        v.add(
            "regression_threshold",
            "must be a finite number, not negative",
        );
    }
    v.into_result()?;
    let query = LineQualityQuery {
        model: r.model,
        filter,
        threshold: r.regression_threshold,
    };
    let results = Results::OfModels(vec![query.model.clone()]);
    answer(store, r.known_as_of.as_ref(), &results, async |store| {
        analytics::line_quality(store, &query).await
    })
    .await
}
