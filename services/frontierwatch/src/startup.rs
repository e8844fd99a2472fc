//! Builds the application: health first, then the database (`database`)
//! and the first admin token (`admin_token`), the listeners, and the gRPC
//! server with health and reflection.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use frontierwatch_proto::v1::frontier_watch_service_server::FrontierWatchServiceServer;
use frontierwatch_proto::v1::token_service_server::TokenServiceServer;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

use crate::api::FrontierWatch;
use crate::api::auth::Authenticated;
use crate::api::guard::{Guard, Limits};
use crate::api::tokens::Tokens;
use crate::config::{Config, redact_url, seconds};
use crate::database::{Database, pool_options};
use crate::embedded::EmbeddedPostgres;
use crate::health;
use crate::storage::Store;
use crate::stream::Watches;
use crate::stream::hub::Hub;
use crate::stream::watcher::WatchSettings;
use crate::stream::{evaluator, pruner};

/// The largest response: a page of 1,000 resources near the largest size
/// fits; watch messages stay within 1 MiB by construction.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// A database URL whose `Debug` hides the password.
struct DatabaseUrl(String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

/// Health, from before the database is reached: the reporter every
/// health service shares, and the plaintext health-only listener
/// (`--health-listen`), already serving. Dropping this stops that listener.
#[derive(Debug)]
struct Probes {
    reporter: HealthReporter,
    /// Set to true (or dropped) to stop the health-only listener.
    stop: tokio::sync::watch::Sender<bool>,
}

impl Probes {
    /// Reports `liveness` SERVING and everything else NOT_SERVING, and
    /// serves health alone on `addr` if one is configured.
    async fn start(addr: Option<SocketAddr>) -> anyhow::Result<Self> {
        let reporter = HealthReporter::new();
        reporter
            .set_service_status(health::LIVENESS, ServingStatus::Serving)
            .await;
        health::set_all(&reporter, ServingStatus::NotServing).await;
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        if let Some(addr) = addr {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for health (--health-listen)"))?;
            let addr = listener.local_addr()?;
            tracing::info!(%addr, "serving health alone on {addr}");
            let health_only = tonic::transport::Server::builder()
                .add_service(HealthServer::new(HealthService::from_health_reporter(
                    reporter.clone(),
                )))
                .serve_with_incoming_shutdown(incoming(listener), async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                });
            tokio::spawn(async move {
                if let Err(error) = health_only.await {
                    tracing::error!(%error, "the health listener failed");
                }
            });
        }
        Ok(Self { reporter, stop })
    }
}

/// A built, not yet serving, application.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    /// Health, serving on `--health-listen` since the start.
    probes: Probes,
    /// The Prometheus listener (`--metrics-listen`).
    metrics_listener: Option<TcpListener>,
    /// For the health check's own connection; shown redacted.
    database_url: DatabaseUrl,
    config: Config,
    store: Store,
    /// Connections reserved for snapshots (see `--snapshot-connections`).
    snapshot_pool: sqlx::PgPool,
    embedded: Option<EmbeddedPostgres>,
}

impl Application {
    /// Connects to (or starts) the database, applies migrations and binds
    /// the listen address.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        // Installed first, so that nothing recorded from here on is lost.
        crate::metrics::keep_up();
        // Before the database: the liveness and startup probes get their
        // answer while the server waits for the database or migrates it.
        let probes = Probes::start(config.health_listen).await?;
        let Database {
            url,
            pool,
            embedded,
        } = Database::open(config).await?;
        crate::storage::register_kinds(&pool)
            .await
            .context("cannot register the kinds of resource")?;
        let filled = crate::storage::analytics::backfill_result_index(&pool)
            .await
            .context("cannot index stored results")?;
        if filled > 0 {
            tracing::info!(filled, "indexed stored results for leaderboards");
        }
        let filled = crate::storage::analytics::backfill_release_weights(&pool)
            .await
            .context("cannot index stored releases")?;
        if filled > 0 {
            tracing::info!(filled, "indexed the weights of stored releases");
        }
        // Made lazily: snapshots are rare, and waiting for one of these is
        // what queues them.
        let snapshot_pool = pool_options(config.snapshot_connections)
            .connect_lazy(&url)
            .context("invalid database URL")?;
        let store = Store::new(pool)
            .await
            .context("cannot read the page token key")?;
        crate::admin_token::bootstrap(store.pool(), &config.admin_token_file).await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (--listen)", config.listen))?;
        let metrics_listener = match config.metrics_listen.0 {
            Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
                format!("cannot listen on {addr} for metrics (--metrics-listen)")
            })?),
            None => None,
        };
        Ok(Self {
            listener,
            probes,
            metrics_listener,
            database_url: DatabaseUrl(url),
            config: config.clone(),
            store,
            snapshot_pool,
            embedded,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then drains and stops.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            probes,
            metrics_listener,
            database_url,
            config,
            store,
            snapshot_pool,
            mut embedded,
        } = self;
        let Probes {
            reporter: health_reporter,
            stop: health_stop,
        } = probes;
        let health_service =
            HealthServer::new(HealthService::from_health_reporter(health_reporter.clone()));
        // Migrations have run: readiness (the overall service "") and the
        // API service report SERVING from here on.
        health::set_all(&health_reporter, ServingStatus::Serving).await;

        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;

        // Set when shutdown starts: ends open watches, then the server.
        let (draining_tx, mut draining) = tokio::sync::watch::channel(false);
        let pool = store.pool().clone();
        // Known before serving: see `Hub::start`. Its LISTEN connection also
        // brings revocations to this replica's memory of tokens.
        let Some(hub) = Hub::start_hearing(
            pool.clone(),
            seconds(config.change_poll_seconds),
            draining.clone(),
            Some(store.tokens().clone()),
        )
        .await
        else {
            return Ok(());
        };
        pruner::spawn(
            pool.clone(),
            seconds(config.change_retention_seconds),
            seconds(config.change_prune_seconds),
            draining.clone(),
        );
        let watches = Watches::new(
            pool,
            snapshot_pool.clone(),
            hub,
            WatchSettings {
                bookmark_interval: seconds(config.watch_bookmark_seconds),
                slow_consumer_timeout: seconds(config.watch_slow_consumer_seconds),
            },
            (
                usize::try_from(config.max_watches).unwrap_or(usize::MAX),
                usize::try_from(config.max_watches_per_token).unwrap_or(usize::MAX),
            ),
            draining.clone(),
        );
        // Before the store is shared: every copy serves Gets from the cache.
        let store = if config.read_cache {
            store.with_read_cache(crate::stream::cache::spawn(
                watches.clone(),
                draining.clone(),
            ))
        } else {
            store
        };
        evaluator::spawn(
            store.clone(),
            seconds(config.alert_seconds),
            config.availability_alert_threshold.map(|threshold| {
                crate::stream::market_alerts::AvailabilityRule {
                    threshold,
                    window: seconds(config.availability_alert_window_seconds),
                }
            }),
            draining.clone(),
        );
        let grace = seconds(config.shutdown_grace_seconds);
        let tls = match (&config.tls_cert_file, &config.tls_key_file) {
            (Some(cert), Some(key)) => Some(crate::tls::acceptor(&crate::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: config.tls_client_ca_file.clone(),
            })?),
            _ => None,
        };
        let limits = Limits {
            max_request_bytes: usize::try_from(config.max_request_bytes).unwrap_or(usize::MAX),
            default_deadline: seconds(config.default_deadline_seconds),
            max_concurrent_calls: usize::try_from(config.max_concurrent_calls)
                .unwrap_or(usize::MAX),
        };

        health::spawn(
            health_reporter.clone(),
            database_url.0,
            seconds(config.health_check_seconds),
            draining.clone(),
        );
        if let Some(listener) = metrics_listener {
            let addr = listener.local_addr()?;
            tracing::info!(%addr, "serving metrics on http://{addr}/metrics");
            crate::metrics::serve(
                listener,
                crate::metrics::pool_sampler(store.pool().clone(), snapshot_pool.clone()),
                draining.clone(),
            );
        }
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "listening on {addr}");
        // The shutdown signal starts the drain; connections still open after
        // the grace period (long-lived streams, idle clients) are cut, since
        // tonic's graceful shutdown would otherwise wait for them forever.
        let reporter = health_reporter.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: draining requests");
            health::set_all(&reporter, ServingStatus::NotServing).await;
            let _ = draining_tx.send(true);
            let _ = health_stop.send(true);
        });
        let mut builder = tonic::transport::Server::builder();
        if config.max_connection_age_seconds > 0.0 {
            builder = builder
                .max_connection_age(seconds(config.max_connection_age_seconds))
                .max_connection_age_grace(seconds(config.max_connection_age_grace_seconds));
        }
        let mut drain_signal = draining.clone();
        let shutdown_started = draining.clone();
        let router = builder
            .trace_fn(crate::telemetry::grpc_span)
            .layer(crate::api::observe::ObserveLayer)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(Guard::new(
                Authenticated::new(
                    FrontierWatchServiceServer::new(FrontierWatch::new(store.clone(), watches))
                        .max_decoding_message_size(limits.max_request_bytes)
                        .max_encoding_message_size(MAX_RESPONSE_BYTES),
                    store.tokens().clone(),
                    config.anonymous_reads,
                ),
                limits,
            ))
            .add_service(Guard::new(
                Authenticated::new(
                    TokenServiceServer::new(Tokens::new(store.clone())),
                    store.tokens().clone(),
                    false,
                ),
                limits,
            ));
        let stop = async move {
            let _ = drain_signal.wait_for(|draining| *draining).await;
        };
        let serve = async move {
            match tls {
                Some(acceptor) => {
                    router
                        .serve_with_incoming_shutdown(
                            crate::tls::incoming(listener, acceptor),
                            stop,
                        )
                        .await
                }
                None => {
                    router
                        .serve_with_incoming_shutdown(incoming(listener), stop)
                        .await
                }
            }
        };
        // Everything below ends by this instant once shutdown has started.
        let deadline = async move {
            let mut started = shutdown_started;
            let _ = started.wait_for(|draining| *draining).await;
            tokio::time::Instant::now() + grace
        };
        let deadline = tokio::spawn(deadline);
        let result = tokio::select! {
            result = serve => result,
            () = async {
                let _ = draining.wait_for(|draining| *draining).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace_seconds = grace.as_secs_f64(), "connections still open after the grace period; closing them");
                Ok(())
            }
        };
        // Closing a pool waits for its connections to come back: a snapshot
        // still being read, or an alert evaluation, holds one. Wait only
        // for what is left of the grace period, then let them be dropped.
        let deadline = if *draining.borrow() {
            deadline
                .await
                .unwrap_or_else(|_| tokio::time::Instant::now())
        } else {
            // The server failed on its own: nothing to wait for.
            deadline.abort();
            tokio::time::Instant::now()
        };
        let close = async {
            store.pool().close().await;
            snapshot_pool.close().await;
        };
        if tokio::time::timeout_at(deadline, close).await.is_err() {
            tracing::warn!(
                "database connections still in use at the end of the grace period; dropping them"
            );
        }
        if let Some(pg) = embedded.as_mut() {
            tokio::task::block_in_place(|| pg.stop());
        }
        result.context("the gRPC server failed")
    }
}

/// Accepted connections with `TCP_NODELAY`: without it, a response larger
/// than one segment (a List page, a leaderboard) is held back by Nagle's
/// algorithm until the client's delayed ACK arrives, about 40 ms later.
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Server reflection over our services, health, both reflection versions,
/// and the google.rpc error details, so that grpcurl can decode errors.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(frontierwatch_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM"),
        result = tokio::signal::ctrl_c() => {
            if result.is_ok() {
                tracing::info!("received SIGINT");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DatabaseUrl;

    #[test]
    fn the_application_never_shows_the_database_password() {
        let shown = format!(
            "{:?}",
            DatabaseUrl("postgres://fw:hunter2@db:5432/fw".into())
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("fw:***@db:5432/fw"), "{shown}");
    }
}
