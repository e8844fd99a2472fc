//! Health that means something: the overall service `""` (what kubelet's
//! readiness probe asks for) and the API service answer `SERVING` only
//! while the database answers and the server is not shutting down; the
//! service [`LIVENESS`] (what the liveness and startup probes ask for)
//! answers `SERVING` from the moment the health listener is up, whatever
//! the database does, because restarting a replica does not bring a
//! database back.
//!
//! The check uses a connection of its own, outside the pool: a pool busy
//! with load is not an unreachable database, and taking a replica out of
//! its Service because it is busy would move the load onto the others.

use std::time::Duration;

use frontierwatch_proto::v1::frontier_watch_service_server::SERVICE_NAME;
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// The longest a single check may take before the database counts as
/// unreachable.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The health service name that reports the process itself: `SERVING`
/// while it answers at all.
pub const LIVENESS: &str = "liveness";

/// Sets every reported service to `status`.
pub async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status(SERVICE_NAME, status).await;
    reporter.set_service_status("", status).await;
}

/// Checks the database every `interval` until shutdown starts, reporting
/// `NOT_SERVING` while it does not answer and `SERVING` once it does. The
/// first check has passed when this is called (migrations just ran).
pub fn spawn(
    reporter: HealthReporter,
    database_url: String,
    interval: Duration,
    mut draining: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut connection: Option<PgConnection> = None;
        let mut serving = true;
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = draining.wait_for(|d| *d) => return,
                _ = ticks.tick() => {}
            }
            let reachable = check(&mut connection, &database_url).await;
            if *draining.borrow() {
                return;
            }
            match (serving, &reachable) {
                (true, Err(error)) => {
                    tracing::warn!(%error, "the database does not answer; health reports NOT_SERVING");
                    set_all(&reporter, ServingStatus::NotServing).await;
                }
                (false, Ok(())) => {
                    tracing::info!("the database answers again; health reports SERVING");
                    set_all(&reporter, ServingStatus::Serving).await;
                }
                _ => {}
            }
            serving = reachable.is_ok();
        }
    });
}

/// Pings the database over `connection`, (re)connecting first if needed;
/// a failed connection is dropped so that the next check reconnects.
async fn check(connection: &mut Option<PgConnection>, url: &str) -> Result<(), String> {
    let attempt = async {
        if connection.is_none() {
            *connection = Some(PgConnection::connect(url).await?);
        }
        match connection.as_mut() {
            Some(c) => c.ping().await,
            None => Ok(()),
        }
    };
    let outcome = match tokio::time::timeout(CHECK_TIMEOUT, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!(
            "no answer within {} s",
            CHECK_TIMEOUT.as_secs_f64()
        )),
    };
    if outcome.is_err() {
        *connection = None;
    }
    outcome
}
