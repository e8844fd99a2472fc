//! The gRPC layer: thin handlers that validate, call the store and answer.

pub mod analytics;
pub mod auth;
mod filters;
pub mod guard;
mod history;
mod import;
mod market;
pub mod observe;
pub mod progress;
pub mod standard;
pub mod tokens;
mod transparency;
mod wrap;

use frontierwatch_proto::v1::frontier_watch_service_server::FrontierWatchService;
use frontierwatch_proto::v1::*;
use tonic::{Request, Response, Status};

use crate::storage::{Actor, Store};
use crate::stream::Watches;
use standard::NewId;

/// The `frontierwatch.v1.FrontierWatchService` implementation.
#[derive(Clone, Debug)]
pub struct FrontierWatch {
    store: Store,
    watches: Watches,
}

impl FrontierWatch {
    /// A service over the store and the change stream.
    pub fn new(store: Store, watches: Watches) -> Self {
        Self { store, watches }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(result: Result<T, crate::error::ApiError>) -> Reply<T> {
    result.map(Response::new).map_err(Status::from)
}

/// Who makes a call's writes: the token the authentication wrapper found
/// (`auth`), named on every change record the call writes.
fn actor<T>(request: &Request<T>) -> Actor {
    request
        .extensions()
        .get::<crate::storage::tokens::Principal>()
        .map_or_else(Actor::none, |p| Actor::token(p.name.clone()))
}

/// Implements the service: the five standard methods of each resource.
/// (One macro emits the whole impl so that `async_trait` sees every method.)
macro_rules! standard_service {
    ($({
        $ty:ident, field: $field:ident, plural: $plural:ident,
        get: $get:ident($get_req:ident),
        list: $list:ident($list_req:ident) -> $list_resp:ident via $filter:path,
        create: $create:ident($create_req:ident) id $id_field:ident generate $generate:literal $(parent $parent:ident)?,
        update: $update:ident($update_req:ident),
        delete: $delete:ident($delete_req:ident),
    })* ; $($extra:tt)*) => {
        #[tonic::async_trait]
        impl FrontierWatchService for FrontierWatch {
        $($extra)*

        $(
        async fn $get(&self, request: Request<$get_req>) -> Reply<$ty> {
            reply(standard::get(&self.store, &request.get_ref().name).await)
        }

        async fn $list(&self, request: Request<$list_req>) -> Reply<$list_resp> {
            let r = request.into_inner();
            let result = async {
                let query = $filter(&r)?;
                standard::list::<$ty>(&self.store, query, r.page_size, &r.page_token).await
            }
            .await;
            reply(result.map(|($plural, next_page_token)| $list_resp {
                $plural,
                next_page_token,
            }))
        }

        async fn $create(&self, request: Request<$create_req>) -> Reply<$ty> {
            let actor = actor(&request);
            let r = request.into_inner();
            let new_id = NewId {
                field: stringify!($id_field),
                id: &r.$id_field,
                generate: $generate,
                parent: None $(.or(Some(r.$parent.as_str())))?,
            };
            reply(standard::create(&self.store, new_id, r.$field, &r.request_id, actor).await)
        }

        async fn $update(&self, request: Request<$update_req>) -> Reply<$ty> {
            let actor = actor(&request);
            let r = request.into_inner();
            reply(standard::update(&self.store, r.$field, r.update_mask, actor).await)
        }

        async fn $delete(&self, request: Request<$delete_req>) -> Reply<()> {
            let r = request.get_ref();
            reply(standard::delete::<$ty>(&self.store, &r.name, &r.etag, actor(&request)).await)
        }
        )*
        }
    };
}

standard_service! {
    {
        Organization, field: organization, plural: organizations,
        get: get_organization(GetOrganizationRequest),
        list: list_organizations(ListOrganizationsRequest) -> ListOrganizationsResponse via filters::organizations,
        create: create_organization(CreateOrganizationRequest) id organization_id generate false,
        update: update_organization(UpdateOrganizationRequest),
        delete: delete_organization(DeleteOrganizationRequest),
    }

    {
        Model, field: model, plural: models,
        get: get_model(GetModelRequest),
        list: list_models(ListModelsRequest) -> ListModelsResponse via filters::models,
        create: create_model(CreateModelRequest) id model_id generate false,
        update: update_model(UpdateModelRequest),
        delete: delete_model(DeleteModelRequest),
    }

    {
        Release, field: release, plural: releases,
        get: get_release(GetReleaseRequest),
        list: list_releases(ListReleasesRequest) -> ListReleasesResponse via filters::releases,
        create: create_release(CreateReleaseRequest) id release_id generate false parent parent,
        update: update_release(UpdateReleaseRequest),
        delete: delete_release(DeleteReleaseRequest),
    }

    {
        Benchmark, field: benchmark, plural: benchmarks,
        get: get_benchmark(GetBenchmarkRequest),
        list: list_benchmarks(ListBenchmarksRequest) -> ListBenchmarksResponse via filters::benchmarks,
        create: create_benchmark(CreateBenchmarkRequest) id benchmark_id generate false,
        update: update_benchmark(UpdateBenchmarkRequest),
        delete: delete_benchmark(DeleteBenchmarkRequest),
    }

    {
        BenchmarkResult, field: benchmark_result, plural: benchmark_results,
        get: get_benchmark_result(GetBenchmarkResultRequest),
        list: list_benchmark_results(ListBenchmarkResultsRequest) -> ListBenchmarkResultsResponse via filters::benchmark_results,
        create: create_benchmark_result(CreateBenchmarkResultRequest) id benchmark_result_id generate true,
        update: update_benchmark_result(UpdateBenchmarkResultRequest),
        delete: delete_benchmark_result(DeleteBenchmarkResultRequest),
    }

    {
        Disclosure, field: disclosure, plural: disclosures,
        get: get_disclosure(GetDisclosureRequest),
        list: list_disclosures(ListDisclosuresRequest) -> ListDisclosuresResponse via filters::disclosures,
        create: create_disclosure(CreateDisclosureRequest) id disclosure_id generate true,
        update: update_disclosure(UpdateDisclosureRequest),
        delete: delete_disclosure(DeleteDisclosureRequest),
    }

    {
        Indicator, field: indicator, plural: indicators,
        get: get_indicator(GetIndicatorRequest),
        list: list_indicators(ListIndicatorsRequest) -> ListIndicatorsResponse via filters::indicators,
        create: create_indicator(CreateIndicatorRequest) id indicator_id generate false,
        update: update_indicator(UpdateIndicatorRequest),
        delete: delete_indicator(DeleteIndicatorRequest),
    }

    {
        TransparencyIndex, field: transparency_index, plural: transparency_indexes,
        get: get_transparency_index(GetTransparencyIndexRequest),
        list: list_transparency_indexes(ListTransparencyIndexesRequest) -> ListTransparencyIndexesResponse via filters::transparency_indexes,
        create: create_transparency_index(CreateTransparencyIndexRequest) id transparency_index_id generate false,
        update: update_transparency_index(UpdateTransparencyIndexRequest),
        delete: delete_transparency_index(DeleteTransparencyIndexRequest),
    }

    {
        Commitment, field: commitment, plural: commitments,
        get: get_commitment(GetCommitmentRequest),
        list: list_commitments(ListCommitmentsRequest) -> ListCommitmentsResponse via filters::commitments,
        create: create_commitment(CreateCommitmentRequest) id commitment_id generate false,
        update: update_commitment(UpdateCommitmentRequest),
        delete: delete_commitment(DeleteCommitmentRequest),
    }

    {
        Offering, field: offering, plural: offerings,
        get: get_offering(GetOfferingRequest),
        list: list_offerings(ListOfferingsRequest) -> ListOfferingsResponse via filters::offerings,
        create: create_offering(CreateOfferingRequest) id offering_id generate true,
        update: update_offering(UpdateOfferingRequest),
        delete: delete_offering(DeleteOfferingRequest),
    }

    {
        Measurement, field: measurement, plural: measurements,
        get: get_measurement(GetMeasurementRequest),
        list: list_measurements(ListMeasurementsRequest) -> ListMeasurementsResponse via filters::measurements,
        create: create_measurement(CreateMeasurementRequest) id measurement_id generate true,
        update: update_measurement(UpdateMeasurementRequest),
        delete: delete_measurement(DeleteMeasurementRequest),
    }
    ;
    type WatchStream = crate::stream::watcher::WatchStream;

    async fn watch(&self, request: Request<WatchRequest>) -> Reply<Self::WatchStream> {
        let token = request
            .extensions()
            .get::<crate::storage::tokens::Principal>()
            .map(|p| p.name.clone());
        reply(self.watches.open(request.get_ref(), token.as_deref()).await)
    }

    async fn batch_create_benchmark_results(
        &self,
        request: Request<BatchCreateBenchmarkResultsRequest>,
    ) -> Reply<BatchCreateBenchmarkResultsResponse> {
        let actor = actor(&request);
        let r = request.into_inner();
        let items = r
            .requests
            .iter()
            .map(|item| {
                let new_id = NewId {
                    field: "benchmark_result_id",
                    id: &item.benchmark_result_id,
                    generate: true,
                    parent: None,
                };
                (new_id, item.benchmark_result.clone(), item.request_id.as_str())
            })
            .collect();
        let result = standard::create_batch(&self.store, items, actor).await;
        reply(result.map(|benchmark_results| BatchCreateBenchmarkResultsResponse { benchmark_results }))
    }

    async fn move_release(&self, request: Request<MoveReleaseRequest>) -> Reply<Release> {
        let actor = actor(&request);
        reply(standard::move_release(&self.store, request.into_inner(), actor).await)
    }

    async fn import_resources(
        &self,
        request: Request<ImportResourcesRequest>,
    ) -> Reply<ImportResourcesResponse> {
        let actor = actor(&request);
        reply(import::import(&self.store, request.into_inner(), actor).await)
    }

    async fn get_leaderboard(&self, request: Request<GetLeaderboardRequest>) -> Reply<Leaderboard> {
        reply(analytics::leaderboard(&self.store, request.into_inner()).await)
    }

    async fn compare_releases(&self, request: Request<CompareReleasesRequest>) -> Reply<CompareReleasesResponse> {
        reply(analytics::compare(&self.store, request.into_inner()).await)
    }

    async fn get_cadence_report(&self, request: Request<GetCadenceReportRequest>) -> Reply<CadenceReport> {
        reply(analytics::cadence_report(&self.store, request.into_inner()).await)
    }

    async fn get_transparency_report(
        &self,
        request: Request<GetTransparencyReportRequest>,
    ) -> Reply<TransparencyReport> {
        reply(transparency::transparency(&self.store, request.into_inner()).await)
    }

    async fn get_timeline(&self, request: Request<GetTimelineRequest>) -> Reply<Timeline> {
        reply(analytics::timeline(&self.store, request.into_inner()).await)
    }

    async fn get_record_progression(
        &self,
        request: Request<GetRecordProgressionRequest>,
    ) -> Reply<RecordProgression> {
        reply(progress::progression(&self.store, request.into_inner()).await)
    }

    async fn get_offering_terms(
        &self,
        request: Request<GetOfferingTermsRequest>,
    ) -> Reply<OfferingTerms> {
        reply(market::terms(&self.store, request.into_inner()).await)
    }

    async fn get_price_frontier(
        &self,
        request: Request<GetPriceFrontierRequest>,
    ) -> Reply<PriceFrontier> {
        reply(market::price_frontier(&self.store, request.into_inner()).await)
    }

    async fn get_offering_report(
        &self,
        request: Request<GetOfferingReportRequest>,
    ) -> Reply<OfferingReport> {
        reply(market::offering_report(&self.store, request.into_inner()).await)
    }

    async fn get_model_line_quality(
        &self,
        request: Request<GetModelLineQualityRequest>,
    ) -> Reply<ModelLineQuality> {
        reply(progress::line_quality(&self.store, request.into_inner()).await)
    }

    async fn list_revisions(&self, request: Request<ListRevisionsRequest>) -> Reply<ListRevisionsResponse> {
        reply(history::list(&self.store, request.into_inner()).await)
    }

    async fn get_revision(&self, request: Request<GetRevisionRequest>) -> Reply<Revision> {
        reply(history::get(&self.store, request.into_inner()).await)
    }
}
