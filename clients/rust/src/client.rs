//! Connecting, and calls with safe retries.

use std::future::Future;
use std::time::Duration;

use frontierwatch_proto::v1::frontier_watch_service_client::FrontierWatchServiceClient;
use frontierwatch_proto::v1::*;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use frontierwatch_proto::kinds::KindInfo;

use crate::generic;
use crate::retry::{RetryPolicy, retryable_status};

/// The largest response the client accepts.
const MAX_DECODING_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// The generated client, as configured by [`Client::connect`].
pub type RawClient = FrontierWatchServiceClient<InterceptedService<Channel, Auth>>;

/// Adds the bearer token, when one is configured, and a W3C
/// `traceparent` to every call. The trace is the current tracing span's
/// OpenTelemetry trace when there is one; otherwise the trace id set with
/// [`Auth::with_trace_id`] (one per CLI invocation, say), or a fresh one per
/// call. The server continues that trace and logs its id with each call.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    token: Option<MetadataValue<Ascii>>,
    trace_id: Option<u128>,
}

impl Auth {
    /// Sends `authorization: Bearer <token>` when a token is given.
    pub fn bearer(token: Option<&str>) -> Result<Self, Error> {
        let token = match token {
            Some(token) => Some(
                format!("Bearer {}", token.trim())
                    .parse::<MetadataValue<Ascii>>()
                    .map_err(|_| Error::InvalidToken)?,
            ),
            None => None,
        };
        Ok(Self {
            token,
            trace_id: None,
        })
    }

    /// Calls made outside an OpenTelemetry span carry this trace id (32
    /// lowercase hex digits, not all zero).
    pub fn with_trace_id(mut self, trace_id: &str) -> Result<Self, Error> {
        let id = (trace_id.len() == 32
            && trace_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| u128::from_str_radix(trace_id, 16).ok())
        .flatten()
        .filter(|id| *id != 0)
        .ok_or_else(|| Error::InvalidTraceId(trace_id.to_owned()))?;
        self.trace_id = Some(id);
        Ok(self)
    }

    fn traceparent(&self) -> String {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let context = tracing::Span::current().context();
        let span = context.span();
        let current = span.span_context();
        if current.is_valid() {
            return format!(
                "00-{}-{}-{:02x}",
                current.trace_id(),
                current.span_id(),
                current.trace_flags().to_u8()
            );
        }
        let trace_id = self.trace_id.unwrap_or_else(random_u128);
        let span_id = (random_u128() as u64).max(1);
        format!("00-{trace_id:032x}-{span_id:016x}-01")
    }
}

/// A new random trace id, as a string: what [`Auth::with_trace_id`] takes.
pub fn new_trace_id() -> String {
    format!("{:032x}", random_u128())
}

fn random_u128() -> u128 {
    u128::from_be_bytes(*uuid::Uuid::new_v4().as_bytes()).max(1)
}

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.token {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        // A traceparent the caller put on the request is kept.
        if !request.metadata().contains_key("traceparent")
            && let Ok(value) = self.traceparent().parse::<MetadataValue<Ascii>>()
        {
            request.metadata_mut().insert("traceparent", value);
        }
        Ok(request)
    }
}

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `http://host:port`.
    pub endpoint: String,
    /// More addresses of the same service (its replicas): calls are spread
    /// over these and `endpoint` (power of two choices), and a call that
    /// finds one down fails `UNAVAILABLE`, which retries and resumed
    /// watches take elsewhere.
    pub additional_endpoints: Vec<String>,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Bound on each unary call; none for streams.
    pub request_timeout: Option<Duration>,
    /// HTTP/2 keepalive ping interval, to notice dead connections.
    pub keepalive: Option<Duration>,
    /// A bearer token sent as `authorization`, for when the server wants one.
    pub auth_token: Option<String>,
    /// Retries of idempotent calls.
    pub retry: RetryPolicy,
    /// TLS settings; an `https://` endpoint without them trusts the
    /// system's roots.
    pub tls: Option<TlsOptions>,
    /// The trace id of calls made outside an OpenTelemetry span (see
    /// [`Auth`]); none: a fresh one per call.
    pub trace_id: Option<String>,
    /// Resolve `endpoint`'s host name to all of its addresses (a headless
    /// Service's pods) and balance over them, resolving again
    /// periodically and whenever a call or watch finds a server gone.
    /// None: connect to the name as given (and `additional_endpoints`).
    pub discovery: Option<crate::Discovery>,
}

/// TLS to the server.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// The PEM CA that signed the server's certificate; none: the system's
    /// roots.
    pub ca_pem: Option<Vec<u8>>,
    /// The name to verify the certificate for, when not the endpoint's host.
    pub domain: Option<String>,
    /// A PEM client certificate and key, for servers that require one.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsOptions {
    /// The transport's TLS configuration.
    pub fn config(&self) -> tonic::transport::ClientTlsConfig {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        let mut config = ClientTlsConfig::new();
        config = match &self.ca_pem {
            Some(ca) => config.ca_certificate(Certificate::from_pem(ca)),
            None => config.with_native_roots(),
        };
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        config
    }
}

impl ConnectOptions {
    /// Defaults: 5 s connect timeout, 30 s keepalive, default retries.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            additional_endpoints: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: None,
            keepalive: Some(Duration::from_secs(30)),
            auth_token: None,
            retry: RetryPolicy::default(),
            tls: None,
            trace_id: None,
            discovery: None,
        }
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint is not a valid URI.
    #[error("invalid endpoint {0:?}")]
    InvalidEndpoint(String),
    /// The auth token cannot be sent as a header.
    #[error("the auth token is not a valid header value")]
    InvalidToken,
    /// A trace id that is not 32 lowercase hex digits (or is all zero).
    #[error("invalid trace id {0:?}: 32 lowercase hex digits, not all zero")]
    InvalidTraceId(String),
    /// The transport failed.
    #[error("cannot connect: {0}")]
    Connect(#[from] tonic::transport::Error),
}

/// A Frontier Watch client. Cheap to clone; clones share the connection.
#[derive(Debug, Clone)]
pub struct Client {
    raw: RawClient,
    /// The same connection, for the calls derived from the registry of kinds.
    service: InterceptedService<Channel, Auth>,
    retry: RetryPolicy,
    /// With discovery: asks for a new resolution when a server is gone.
    nudge: Option<crate::discovery::Nudge>,
}

impl Client {
    /// Builds a client. The connection is made lazily and re-made after a
    /// failure, so the server may be down when this is called.
    pub async fn connect(options: ConnectOptions) -> Result<Self, Error> {
        let mut auth = Auth::bearer(options.auth_token.as_deref())?;
        if let Some(trace_id) = &options.trace_id {
            auth = auth.with_trace_id(trace_id)?;
        }
        let mut nudge = None;
        let channel = if let Some(discovery) = &options.discovery {
            let (channel, handle) = crate::discovery::channel(&options, discovery).await?;
            nudge = Some(handle);
            channel
        } else if options.additional_endpoints.is_empty() {
            endpoint(&options, &options.endpoint)?.connect_lazy()
        } else {
            let endpoints = std::iter::once(&options.endpoint)
                .chain(&options.additional_endpoints)
                .map(|address| endpoint(&options, address))
                .collect::<Result<Vec<_>, _>>()?;
            Channel::balance_list(endpoints.into_iter())
        };
        Ok(Self {
            raw: FrontierWatchServiceClient::with_interceptor(channel.clone(), auth.clone())
                .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE),
            service: InterceptedService::new(channel, auth),
            retry: options.retry,
            nudge,
        })
    }

    /// A call or watch found a server gone: with discovery, resolve again.
    pub(crate) fn server_gone(&self) {
        if let Some(nudge) = &self.nudge {
            nudge.now();
        }
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry.clone()
    }

    /// The generated client, for calls this layer does not wrap.
    pub fn raw(&self) -> RawClient {
        self.raw.clone()
    }

    /// Runs an idempotent call, retrying with backoff while the server is
    /// unavailable.
    pub async fn idempotent<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut(RawClient) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let mut attempt = 1;
        loop {
            match call(self.raw.clone()).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) if retryable_status(&status) && attempt < self.retry.max_attempts => {
                    tracing::debug!(%status, attempt, "retrying");
                    self.server_gone();
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(status) => return Err(status),
            }
        }
    }

    /// Gets a resource of any kind by name.
    pub async fn get_organization(&self, name: &str) -> Result<Organization, Status> {
        let request = GetOrganizationRequest {
            name: name.to_owned(),
        };
        self.idempotent(|mut c| {
            let request = request.clone();
            async move { c.get_organization(request).await }
        })
        .await
    }

    /// Imports a batch (idempotent by design, so it is retried). `source`
    /// names the dataset the items come from: the claim they make, which
    /// merges with what other sources state about the same resources.
    pub async fn import_resources(
        &self,
        items: Vec<ImportItem>,
        source: Option<Source>,
    ) -> Result<ImportResourcesResponse, Status> {
        let request = ImportResourcesRequest { items, source };
        self.idempotent(|mut c| {
            let request = request.clone();
            async move { c.import_resources(request).await }
        })
        .await
    }
}

impl Client {
    /// Gets a resource of any kind by name: `client.get::<Commitment>(name)`.
    /// The method is derived from the registry of kinds.
    pub async fn get<T: Resource>(&self, name: &str) -> Result<T, Status> {
        let kind = kind_of::<T>()?;
        let body = generic::get_request(name);
        self.idempotent(|_| self.call(format!("Get{}", kind.message), body.clone()))
            .await
    }

    /// Creates a resource of any kind (`parent` only for kinds that have
    /// one; an empty id lets the server choose where it may). Carries a
    /// fresh `request_id`, so retries create one resource.
    pub async fn create<T: Resource>(
        &self,
        parent: Option<&str>,
        id: &str,
        resource: T,
    ) -> Result<T, Status> {
        let kind = kind_of::<T>()?;
        if parent.is_some() != kind.parent.is_some() {
            return Err(Status::invalid_argument(format!(
                "a {} {} a parent",
                kind.message,
                if kind.parent.is_some() {
                    "needs"
                } else {
                    "takes no"
                }
            )));
        }
        let body = generic::create_request(parent, id, &resource, &request_id());
        self.idempotent(|_| self.call(format!("Create{}", kind.message), body.clone()))
            .await
    }

    async fn call<T: Resource>(
        &self,
        method: String,
        body: generic::Encoded,
    ) -> Result<tonic::Response<T>, Status> {
        let mut grpc = tonic::client::Grpc::new(self.service.clone())
            .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE);
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(format!("the connection is not ready: {e}")))?;
        let path = format!("/frontierwatch.v1.FrontierWatchService/{method}")
            .parse::<tonic::codegen::http::uri::PathAndQuery>()
            .map_err(|_| Status::invalid_argument(format!("{method} is not a method name")))?;
        let codec = tonic_prost::ProstCodec::<generic::Encoded, T>::default();
        grpc.unary(Request::new(body), path, codec).await
    }
}

/// One address's transport settings.
pub(crate) fn endpoint(options: &ConnectOptions, address: &str) -> Result<Endpoint, Error> {
    let mut endpoint = Endpoint::from_shared(address.to_owned())
        .map_err(|_| Error::InvalidEndpoint(address.to_owned()))?
        .connect_timeout(options.connect_timeout);
    if let Some(timeout) = options.request_timeout {
        endpoint = endpoint.timeout(timeout);
    }
    let tls = options
        .tls
        .clone()
        .or_else(|| address.starts_with("https://").then(TlsOptions::default));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls.config())?;
    }
    if let Some(interval) = options.keepalive {
        endpoint = endpoint
            .http2_keep_alive_interval(interval)
            .keep_alive_while_idle(true);
    }
    Ok(endpoint)
}

/// A resource message of any kind.
pub trait Resource: prost::Message + prost::Name + Default + Send + Sync + 'static {}
impl<T: prost::Message + prost::Name + Default + Send + Sync + 'static> Resource for T {}

fn kind_of<T: Resource>() -> Result<&'static KindInfo, Status> {
    KindInfo::of_message(&T::full_name()).ok_or_else(|| {
        Status::invalid_argument(format!("{} is not a kind of resource", T::full_name()))
    })
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Create calls that carry a fresh `request_id`, so that their retries are
/// recognized by the server and create one resource.
macro_rules! creates {
    ($($(#[$doc:meta])* $fn:ident($($arg:ident: $argty:ty),*) -> $ty:ident = $rpc:ident($req:ident { $($field:ident: $value:expr),* });)*) => {
        impl Client {
            $(
            $(#[$doc])*
            pub async fn $fn(&self, $($arg: $argty),*) -> Result<$ty, Status> {
                let request = $req { $($field: $value,)* request_id: request_id() };
                self.idempotent(|mut c| {
                    let request = request.clone();
                    async move { c.$rpc(request).await }
                })
                .await
            }
            )*
        }
    };
}

creates! {
    /// Creates `organizations/{id}`.
    create_organization(id: &str, organization: Organization) -> Organization =
        create_organization(CreateOrganizationRequest { organization_id: id.to_owned(), organization: Some(organization) });
    /// Creates `models/{id}`.
    create_model(id: &str, model: Model) -> Model =
        create_model(CreateModelRequest { model_id: id.to_owned(), model: Some(model) });
    /// Creates `{parent}/releases/{id}` under a model line.
    create_release(parent: &str, id: &str, release: Release) -> Release =
        create_release(CreateReleaseRequest { parent: parent.to_owned(), release_id: id.to_owned(), release: Some(release) });
    /// Creates `benchmarks/{id}`.
    create_benchmark(id: &str, benchmark: Benchmark) -> Benchmark =
        create_benchmark(CreateBenchmarkRequest { benchmark_id: id.to_owned(), benchmark: Some(benchmark) });
    /// Creates a benchmark result; an empty id lets the server choose one.
    create_benchmark_result(id: &str, result: BenchmarkResult) -> BenchmarkResult =
        create_benchmark_result(CreateBenchmarkResultRequest { benchmark_result_id: id.to_owned(), benchmark_result: Some(result) });
    /// Creates a disclosure; an empty id lets the server choose one.
    create_disclosure(id: &str, disclosure: Disclosure) -> Disclosure =
        create_disclosure(CreateDisclosureRequest { disclosure_id: id.to_owned(), disclosure: Some(disclosure) });
    /// Creates `indicators/{id}`.
    create_indicator(id: &str, indicator: Indicator) -> Indicator =
        create_indicator(CreateIndicatorRequest { indicator_id: id.to_owned(), indicator: Some(indicator) });
    /// Creates `transparencyIndexes/{id}`, one edition of an index.
    create_transparency_index(id: &str, index: TransparencyIndex) -> TransparencyIndex =
        create_transparency_index(CreateTransparencyIndexRequest { transparency_index_id: id.to_owned(), transparency_index: Some(index) });
    /// Creates `commitments/{id}`.
    create_commitment(id: &str, commitment: Commitment) -> Commitment =
        create_commitment(CreateCommitmentRequest { commitment_id: id.to_owned(), commitment: Some(commitment) });
    /// Creates an offering; an empty id lets the server choose one.
    create_offering(id: &str, offering: Offering) -> Offering =
        create_offering(CreateOfferingRequest { offering_id: id.to_owned(), offering: Some(offering) });
    /// Creates a measurement; an empty id lets the server choose one.
    create_measurement(id: &str, measurement: Measurement) -> Measurement =
        create_measurement(CreateMeasurementRequest { measurement_id: id.to_owned(), measurement: Some(measurement) });
}
