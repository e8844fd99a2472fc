//! Retention: change records older than the window are pruned. Any replica
//! may prune; concurrent pruning is harmless.

use std::time::Duration;

use tokio::sync::watch;

use crate::storage::changes;

/// Prunes every `interval` until shutdown.
pub fn spawn(
    pool: sqlx::PgPool,
    retention: Duration,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return,
                _ = ticks.tick() => {}
            }
            match changes::prune(&pool, retention).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "pruned the change log"),
                Err(error) => tracing::warn!(%error, "change-log pruning failed"),
            }
            if let Ok((_, oldest, _)) = changes::window(&pool).await {
                metrics::gauge!(crate::metrics::CHANGE_OLDEST).set(oldest as f64);
            }
        }
    });
}
