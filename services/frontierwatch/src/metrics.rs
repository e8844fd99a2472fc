//! Prometheus metrics: every metric is declared once in [`METRICS`] (name,
//! type, labels, help), recorded through the `metrics` facade, rendered by
//! `metrics-exporter-prometheus` in the Prometheus text format, and served
//! on `--metrics-listen` at `/metrics`.
//!
//! Labels have bounded values: gRPC services and methods come from the
//! descriptor pool (anything else is `unknown`), codes, kinds, reasons and
//! outcomes from fixed lists; never resource names or tokens.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The type of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Counter,
    Gauge,
    Histogram,
}

/// One metric's declaration.
#[derive(Debug)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Type,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

macro_rules! metrics_table {
    ($($konst:ident = $name:literal $kind:ident [$($label:literal),*] $help:literal;)*) => {
        $(
            #[doc = $help]
            pub const $konst: &str = $name;
        )*
        /// Every metric the server exports.
        pub const METRICS: &[Metric] = &[
            $(Metric { name: $name, kind: Type::$kind, labels: &[$($label),*], help: $help },)*
        ];
    };
}

metrics_table! {
    RPC_STARTED = "grpc_server_started_total" Counter ["grpc_service", "grpc_method"]
        "RPCs started.";
    RPC_HANDLED = "grpc_server_handled_total" Counter ["grpc_service", "grpc_method", "grpc_code"]
        "RPCs completed, by status code (a Watch counts when its stream ends).";
    RPC_SECONDS = "grpc_server_handling_seconds" Histogram ["grpc_service", "grpc_method"]
        "Time from the request's arrival to the end of its response, unary RPCs only.";
    RPC_IN_FLIGHT = "frontierwatch_rpc_in_flight" Gauge ["grpc_service"]
        "RPCs being served now (open watches included).";
    RPC_SHED = "frontierwatch_rpc_shed_total" Counter ["grpc_service"]
        "RPCs answered RESOURCE_EXHAUSTED at once because --max-concurrent-calls were being served.";
    WATCHES_OPEN = "frontierwatch_watches_open" Gauge []
        "Watch streams open on this replica.";
    WATCH_EVENTS = "frontierwatch_watch_events_sent_total" Counter []
        "Change events sent to watchers (snapshot entries not included).";
    WATCH_BYTES = "frontierwatch_watch_bytes_sent_total" Counter []
        "Bytes of watch messages sent (encoded protobuf, all message kinds).";
    WATCH_DISPATCHED = "frontierwatch_watch_batches_dispatched_total" Counter []
        "Batches of change records the follower handed to watchers: one per batch and watcher whose filter names what the batch carries (or nothing); watchers it cannot concern are not counted.";
    WATCH_LAG = "frontierwatch_watch_lag_sequences" Histogram []
        "At each message sent to a watcher: the change log's head minus the watcher's delivered sequence.";
    WATCHES_ENDED = "frontierwatch_watches_ended_total" Counter ["reason"]
        "Watches ended by the server or refused, by reason: slow_consumer, cursor_expired, cursor_ahead, log_reset, limit, shutdown, client_gone, error.";
    CHANGE_HEAD = "frontierwatch_change_log_head_sequence" Gauge []
        "The highest change sequence this replica has read from the change log.";
    CHANGE_OLDEST = "frontierwatch_change_log_oldest_sequence" Gauge []
        "The oldest change sequence still retained (a cursor below it has expired).";
    LISTENER_RECONNECTS = "frontierwatch_change_log_listener_reconnects_total" Counter []
        "Times the change-log LISTEN connection was lost and made again.";
    CATCH_UP_READS = "frontierwatch_change_log_catch_up_reads_total" Counter []
        "Reads of the change-log table by the follower (after a notification, a reconnect or the fallback poll).";
    POOL_CONNECTIONS = "frontierwatch_db_pool_connections" Gauge ["pool", "state"]
        "Database connections by pool (main, snapshot) and state (idle, in_use), sampled at scrape.";
    POOL_MAX = "frontierwatch_db_pool_max_connections" Gauge ["pool"]
        "The most connections each pool opens.";
    ACQUIRE_SECONDS = "frontierwatch_db_acquire_seconds" Histogram ["pool"]
        "Wait for a connection to begin a write transaction (main) or a snapshot (snapshot).";
    QUERY_SECONDS = "frontierwatch_db_query_seconds" Histogram ["operation"]
        "Storage operations by kind (get, list, create, create_batch, update, delete, import), connection wait included.";
    WRITE_BATCH = "frontierwatch_db_write_batch_size" Histogram []
        "Single-resource creates committed together in one transaction by the group committer.";
    GROUP_WRITES = "frontierwatch_db_group_writes_total" Counter ["path"]
        "Single-resource creates by how the group committer wrote them: alone (a batch of one, in its caller's task), together (decided and written with the rest of its batch), again (decided again in a fresh transaction: a name or request id was taken after the read), one_by_one (decided alone in a savepoint of a shared transaction: the batch could not be written together).";
    EVALUATOR_LAST_SUCCESS = "frontierwatch_evaluator_last_success_timestamp_seconds" Gauge []
        "Unix time of the last alert evaluation that finished on this replica.";
    EVALUATOR_RUNS = "frontierwatch_evaluator_runs_total" Counter ["outcome"]
        "Alert evaluation ticks by outcome: evaluated, skipped_locked (another replica holds the lock), failed.";
    ALERTS_RAISED = "frontierwatch_alerts_raised_total" Counter ["kind"]
        "Alerts raised by this replica's evaluator, by alert kind.";
    IMPORT_ITEMS = "frontierwatch_import_items_total" Counter ["kind", "outcome"]
        "Imported items by resource kind and outcome: created, updated, unchanged, rejected.";
    IMPORT_BATCHES = "frontierwatch_import_batches_total" Counter ["path"]
        "ImportResources calls by how they were written: together (decided and written as one batch), again (decided again in a fresh transaction), one_by_one (each item decided alone in a savepoint: the batch could not be written together).";
    READ_CACHE_GETS = "frontierwatch_read_cache_gets_total" Counter ["served"]
        "Gets on a replica with --read-cache, by what answered: cache (memory, caught up with this replica's writes), database (the cache was not live or did not catch up in time).";
    AUTH_DENIED = "frontierwatch_auth_denied_total" Counter ["grpc_code", "role"]
        "Calls refused by authentication or authorization, by code and the caller's role: anonymous, invalid (unknown, expired or revoked token), unchecked (the token could not be checked), reader, writer, admin.";
}

/// Buckets for durations in seconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Buckets for watch lag, in change sequences.
const LAG_BUCKETS: &[f64] = &[
    0.0, 1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, 100000.0,
];

/// Buckets for the group committer's batch sizes.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(WATCH_LAG.into()), LAG_BUCKETS))
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(WRITE_BATCH.into()), BATCH_BUCKETS)
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        describe();
        handle
    })
}

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP: Duration = Duration::from_secs(5);

/// Folds recorded histogram samples into their buckets every few seconds.
/// The recorder keeps each sample until upkeep runs, which a scrape also
/// does; without this, a replica nobody scrapes (or scrapes rarely) would
/// hold every sample since its start: several per call, one per watch
/// message.
pub fn keep_up() {
    let handle = handle();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    });
}

fn describe() {
    for metric in METRICS {
        match metric.kind {
            Type::Counter => metrics::describe_counter!(metric.name, metric.help),
            Type::Gauge => metrics::describe_gauge!(metric.name, metric.help),
            Type::Histogram => metrics::describe_histogram!(metric.name, metric.help),
        }
    }
}

/// What is sampled at each scrape rather than recorded as it happens.
pub type Sampler = Arc<dyn Fn() + Send + Sync>;

/// Samples the pools' connection counts.
pub fn pool_sampler(main: sqlx::PgPool, snapshot: sqlx::PgPool) -> Sampler {
    Arc::new(move || {
        for (label, pool) in [("main", &main), ("snapshot", &snapshot)] {
            let size = f64::from(pool.size());
            let idle = pool.num_idle() as f64;
            metrics::gauge!(POOL_CONNECTIONS, "pool" => label, "state" => "idle").set(idle);
            metrics::gauge!(POOL_CONNECTIONS, "pool" => label, "state" => "in_use")
                .set((size - idle).max(0.0));
            metrics::gauge!(POOL_MAX, "pool" => label)
                .set(f64::from(pool.options().get_max_connections()));
        }
    })
}

/// Serves `GET /metrics` over HTTP/1.1 until shutdown starts.
pub fn serve(listener: TcpListener, sampler: Sampler, mut draining: watch::Receiver<bool>) {
    let handle = handle();
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = draining.wait_for(|d| *d) => return,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "metrics listener cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let sampler = sampler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let sampler = sampler.clone();
                    async move { Ok::<_, std::convert::Infallible>(respond(&request, &sampler, handle)) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(error) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
                {
                    tracing::debug!(%error, "metrics connection ended");
                }
            });
        }
    });
}

fn respond(
    request: &hyper::Request<hyper::body::Incoming>,
    sampler: &Sampler,
    handle: &PrometheusHandle,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    use hyper::{Method, StatusCode, header};
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => {
            sampler();
            handle.run_upkeep();
            (
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                handle.render(),
            )
        }
        (_, "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "GET only\n".to_owned(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "metrics are at /metrics\n".to_owned(),
        ),
    };
    let mut response = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

/// Records the duration of a storage operation when dropped.
pub struct Timer {
    started: std::time::Instant,
    name: &'static str,
    label: (&'static str, &'static str),
}

impl Timer {
    /// Times one operation of `QUERY_SECONDS`.
    pub fn query(operation: &'static str) -> Timer {
        Timer {
            started: std::time::Instant::now(),
            name: QUERY_SECONDS,
            label: ("operation", operation),
        }
    }

    /// Times one wait of `ACQUIRE_SECONDS`.
    pub fn acquire(pool: &'static str) -> Timer {
        Timer {
            started: std::time::Instant::now(),
            name: ACQUIRE_SECONDS,
            label: ("pool", pool),
        }
    }
}

/// Records how many writes one group-committed transaction took.
pub fn observe_write_batch(writes: usize) {
    metrics::histogram!(WRITE_BATCH).record(writes as f64);
}

/// Counts `writes` creates the group committer wrote along `path`.
pub fn group_writes(path: &'static str, writes: usize) {
    if writes > 0 {
        metrics::counter!(GROUP_WRITES, "path" => path).increment(writes as u64);
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        metrics::histogram!(self.name, self.label.0 => self.label.1)
            .record(self.started.elapsed().as_secs_f64());
    }
}

/// Counts an import written along `path` (together, again, one_by_one).
pub fn import_batch(path: &'static str) {
    metrics::counter!(IMPORT_BATCHES, "path" => path).increment(1);
}

/// Counts a Get on a replica with a read cache, by what answered it.
pub fn read_cache_get(from_cache: bool) {
    let served = if from_cache { "cache" } else { "database" };
    metrics::counter!(READ_CACHE_GETS, "served" => served).increment(1);
}

/// Counts a watch ended (or refused) by the server for `reason`.
pub fn watch_ended(reason: &'static str) {
    metrics::counter!(WATCHES_ENDED, "reason" => reason).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_documented_in_the_operations_guide_with_its_labels() {
        let readme = include_str!("../../../docs/operations.md");
        for metric in METRICS {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{}`", metric.name)))
                .unwrap_or_else(|| panic!("docs/operations.md has no row for {}", metric.name));
            for label in metric.labels {
                assert!(
                    row.contains(&format!("`{label}`")),
                    "the row of docs/operations.md for {} does not name its label {label}",
                    metric.name
                );
            }
        }
    }

    /// Metric names used in a text: `grpc_server_…` and `frontierwatch_…`
    /// identifiers, histogram series mapped to their family.
    fn used_in(text: &str) -> std::collections::BTreeSet<String> {
        let mut used = std::collections::BTreeSet::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let rest = &text[i..];
            let starts = (rest.starts_with("grpc_server_") || rest.starts_with("frontierwatch_"))
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
            if starts {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                i += name.len();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(&name)
                    .to_owned();
                used.insert(family);
            } else {
                i += rest.chars().next().map_or(1, char::len_utf8);
            }
        }
        used
    }

    #[test]
    fn the_dashboard_and_alert_rules_use_declared_metrics_and_the_dashboard_shows_all() {
        let declared: std::collections::BTreeSet<String> =
            METRICS.iter().map(|m| m.name.to_owned()).collect();
        let dashboard =
            include_str!("../../../deploy/kubernetes/components/monitoring/dashboard.json");
        let rules =
            include_str!("../../../deploy/kubernetes/components/monitoring/prometheusrule.yaml");
        for (file, text) in [
            ("dashboard.json", dashboard),
            ("prometheusrule.yaml", rules),
        ] {
            let unknown: Vec<_> = used_in(text).difference(&declared).cloned().collect();
            assert!(
                unknown.is_empty(),
                "{file} uses undeclared metrics: {unknown:?}"
            );
        }
        let missing: Vec<_> = declared.difference(&used_in(dashboard)).cloned().collect();
        assert!(
            missing.is_empty(),
            "the dashboard shows no panel of {missing:?}"
        );
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for metric in METRICS {
            assert!(seen.insert(metric.name), "{} declared twice", metric.name);
            assert_eq!(
                metric.kind == Type::Counter,
                metric.name.ends_with("_total"),
                "{}: counters, and only counters, end in _total",
                metric.name
            );
        }
    }
}
