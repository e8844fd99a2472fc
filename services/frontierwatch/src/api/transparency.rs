//! GetTransparencyReport: the request validated into the analytics
//! layer's question (`analytics::transparency`), which answers it.

use frontierwatch_proto::v1::*;

use super::analytics::{as_of, required_name};
use super::history::answer;
use crate::analytics;
use crate::domain::{Kind, Violations};
use crate::error::ApiError;
use crate::storage::Store;
use crate::storage::known::Results;

pub async fn transparency(
    store: &Store,
    r: GetTransparencyReportRequest,
) -> Result<TransparencyReport, ApiError> {
    let mut v = Violations::default();
    required_name(&mut v, "organization", &r.organization, Kind::Organization);
    let as_of = as_of("as_of", r.as_of.as_ref(), &mut v);
    v.into_result()?;
    answer(
        store,
        r.known_as_of.as_ref(),
        &Results::None,
        async |store| analytics::transparency(store, r.organization, r.index, as_of).await,
    )
    .await
}
