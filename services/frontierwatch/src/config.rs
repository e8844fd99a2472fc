//! Typed configuration from flags and environment variables, validated at start.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Frontier Watch: the system of record for the competitive progress of
/// frontier AI models, served over gRPC.
#[derive(Clone, Parser)]
#[command(name = "frontierwatch-server", version, about)]
pub struct Config {
    /// Address to serve gRPC on; port 0 picks a free port.
    #[arg(long, env = "FRONTIERWATCH_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// PostgreSQL URL (postgres://...). When unset, a private PostgreSQL is
    /// started from the system's binaries, with its data in --data-dir.
    #[arg(long, env = "DATABASE_URL", value_parser = parse_database_url)]
    pub database_url: Option<String>,

    /// Seconds to keep trying to reach the database at start (with
    /// backoff, each failure logged) before giving up; the health listener
    /// answers `liveness` meanwhile, so a replica that starts during a
    /// database outage waits instead of exiting. 0: one try. Errors that
    /// waiting cannot mend (a certificate that does not verify, a refused
    /// password, a database that does not exist) end the start at once.
    #[arg(long, env = "FRONTIERWATCH_DATABASE_WAIT_SECONDS", default_value_t = 600.0,
          value_parser = parse_seconds)]
    pub database_wait_seconds: f64,

    /// Data directory of the embedded PostgreSQL; it survives restarts.
    #[arg(
        long,
        env = "FRONTIERWATCH_DATA_DIR",
        default_value = ".frontierwatch/postgres"
    )]
    pub data_dir: PathBuf,

    /// Directory holding initdb and pg_ctl for the embedded PostgreSQL.
    #[arg(long, env = crate::embedded::BIN_DIR_ENV)]
    pub postgres_bin_dir: Option<PathBuf>,

    /// Maximum number of database connections.
    #[arg(long, env = "FRONTIERWATCH_POOL_SIZE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pool_size: u32,

    /// Database connections reserved for snapshots, apart from the pool:
    /// a snapshot holds one for as long as it is being sent, so snapshots
    /// queue for these instead of taking the connections every other call
    /// needs.
    #[arg(long, env = "FRONTIERWATCH_SNAPSHOT_CONNECTIONS", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub snapshot_connections: u32,

    /// The largest request message accepted, in bytes; larger ones are
    /// answered RESOURCE_EXHAUSTED.
    #[arg(long, env = "FRONTIERWATCH_MAX_REQUEST_BYTES", default_value_t = 4 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=256 * 1024 * 1024))]
    pub max_request_bytes: u64,

    /// The deadline of calls that bring none (or a longer one): past it a
    /// call is answered DEADLINE_EXCEEDED. A Watch counts until its stream
    /// starts.
    #[arg(long, env = "FRONTIERWATCH_DEFAULT_DEADLINE_SECONDS", default_value_t = 30.0,
          value_parser = parse_positive_seconds)]
    pub default_deadline_seconds: f64,

    /// Calls served at once by this replica; more are answered
    /// RESOURCE_EXHAUSTED at once (load shedding) instead of queuing.
    #[arg(long, env = "FRONTIERWATCH_MAX_CONCURRENT_CALLS", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_concurrent_calls: u32,

    /// Seconds to let in-flight requests finish after SIGTERM or SIGINT
    /// before open connections are closed.
    #[arg(long, env = "FRONTIERWATCH_SHUTDOWN_GRACE_SECONDS", default_value_t = 5.0,
          value_parser = parse_seconds)]
    pub shutdown_grace_seconds: f64,

    /// Seconds after which a client connection is asked to go away (HTTP/2
    /// GOAWAY), so that long-lived streams spread over replicas added by a
    /// scale-up; clients reconnect and resume. 0: never.
    #[arg(long, env = "FRONTIERWATCH_MAX_CONNECTION_AGE_SECONDS", default_value_t = 0.0,
          value_parser = parse_seconds)]
    pub max_connection_age_seconds: f64,

    /// Seconds a connection past its maximum age may still finish what it
    /// is serving (an open watch) before it is closed.
    #[arg(long, env = "FRONTIERWATCH_MAX_CONNECTION_AGE_GRACE_SECONDS", default_value_t = 10.0,
          value_parser = parse_seconds)]
    pub max_connection_age_grace_seconds: f64,

    /// Seconds between checks that the database answers: while it does not,
    /// health reports NOT_SERVING (readiness), and SERVING again once it
    /// does.
    #[arg(long, env = "FRONTIERWATCH_HEALTH_CHECK_SECONDS", default_value_t = 2.0,
          value_parser = parse_positive_seconds)]
    pub health_check_seconds: f64,

    /// Also serve grpc.health.v1 alone, in plaintext and without tokens, on
    /// this address: for kubelet gRPC probes, which speak neither TLS nor
    /// bearer tokens.
    #[arg(long, env = "FRONTIERWATCH_HEALTH_LISTEN")]
    pub health_listen: Option<SocketAddr>,

    /// Serve Prometheus metrics over HTTP at /metrics on this address;
    /// `off` serves none.
    #[arg(long, env = "FRONTIERWATCH_METRICS_LISTEN", default_value = "127.0.0.1:9464",
          value_parser = parse_optional_addr)]
    pub metrics_listen: OptionalAddr,

    /// Seconds between progress bookmarks on every watch.
    #[arg(long, env = "FRONTIERWATCH_WATCH_BOOKMARK_SECONDS", default_value_t = 20.0,
          value_parser = parse_positive_seconds)]
    pub watch_bookmark_seconds: f64,

    /// A watcher that has not read for this many seconds is ended with
    /// RESOURCE_EXHAUSTED and the sequence to resume after.
    #[arg(long, env = "FRONTIERWATCH_WATCH_SLOW_CONSUMER_SECONDS", default_value_t = 30.0,
          value_parser = parse_positive_seconds)]
    pub watch_slow_consumer_seconds: f64,

    /// Most watches one replica serves at once.
    #[arg(long, env = "FRONTIERWATCH_MAX_WATCHES", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_watches: u32,

    /// Open watches per token on this replica.
    #[arg(long, env = "FRONTIERWATCH_MAX_WATCHES_PER_TOKEN", default_value_t = 1_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_watches_per_token: u32,

    /// Seconds between fallback reads of the change log, bounding delivery
    /// delay when notifications are lost.
    #[arg(long, env = "FRONTIERWATCH_CHANGE_POLL_SECONDS", default_value_t = 1.0,
          value_parser = parse_positive_seconds)]
    pub change_poll_seconds: f64,

    /// How long change records are retained for resuming watches.
    #[arg(long, env = "FRONTIERWATCH_CHANGE_RETENTION_SECONDS", default_value_t = 604_800.0,
          value_parser = parse_positive_seconds)]
    pub change_retention_seconds: f64,

    /// Seconds between prunings of the change log.
    #[arg(long, env = "FRONTIERWATCH_CHANGE_PRUNE_SECONDS", default_value_t = 60.0,
          value_parser = parse_positive_seconds)]
    pub change_prune_seconds: f64,

    /// Seconds between evaluations of alerts (missed cadence windows, new
    /// benchmark leaders).
    #[arg(long, env = "FRONTIERWATCH_ALERT_SECONDS", default_value_t = 60.0,
          value_parser = parse_positive_seconds)]
    pub alert_seconds: f64,

    /// Raise an alert when an offering's availability (its measured
    /// success rate) over the window below falls under this fraction, e.g.
    /// 0.99; unset: no availability alerts.
    #[arg(long, env = "FRONTIERWATCH_AVAILABILITY_ALERT_THRESHOLD",
          value_parser = parse_fraction)]
    pub availability_alert_threshold: Option<f64>,

    /// The window, ending at each evaluation, over which availability is
    /// computed for its alert.
    #[arg(long, env = "FRONTIERWATCH_AVAILABILITY_ALERT_WINDOW_SECONDS", default_value_t = 86400.0,
          value_parser = parse_positive_seconds)]
    pub availability_alert_window_seconds: f64,

    /// Log format.
    #[arg(long, env = "FRONTIERWATCH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Where the first admin token's secret is written when the server
    /// starts on a database without any token (readable by its owner only).
    #[arg(
        long,
        env = "FRONTIERWATCH_ADMIN_TOKEN_FILE",
        default_value = ".frontierwatch/admin-token"
    )]
    pub admin_token_file: PathBuf,

    /// Serve reads (Get, List, Watch, analytics) without a token. Writes
    /// always need one.
    #[arg(long, env = "FRONTIERWATCH_ANONYMOUS_READS")]
    pub anonymous_reads: bool,

    /// Keep every resource in memory, fed by the change log, and serve
    /// Gets by name from it: a caller reads every write acknowledged by this
    /// replica; a write through another replica is read once this
    /// replica's follower has it (milliseconds). Costs the table's size in
    /// memory and one watch.
    #[arg(long, env = "FRONTIERWATCH_READ_CACHE")]
    pub read_cache: bool,

    /// Serve TLS with this PEM certificate chain (with --tls-key-file);
    /// re-read when the file changes.
    #[arg(long, env = "FRONTIERWATCH_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,

    /// The PEM private key of --tls-cert-file.
    #[arg(long, env = "FRONTIERWATCH_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,

    /// Require client certificates signed by this PEM CA (mutual TLS).
    #[arg(
        long,
        env = "FRONTIERWATCH_TLS_CLIENT_CA_FILE",
        requires = "tls_cert_file"
    )]
    pub tls_client_ca_file: Option<PathBuf>,

    /// A one-off command instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// One-off commands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Manages tokens directly in the database (for bootstrapping; the
    /// TokenService API does the same for admins).
    Token {
        #[command(subcommand)]
        action: TokenCommand,
    },
}

/// Token commands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum TokenCommand {
    /// Makes a token and prints its secret (shown only this once).
    Create {
        /// reader, writer or admin.
        #[arg(long, value_parser = ["reader", "writer", "admin"])]
        role: String,
        /// The token's id: `--name importer` makes `tokens/importer`.
        #[arg(long)]
        name: String,
        /// Days until it expires; never when unset.
        #[arg(long, value_parser = parse_positive_seconds)]
        expire_days: Option<f64>,
    },
}

/// A duration in seconds, 0 to one year.
fn parse_seconds(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(seconds) if (0.0..=31_536_000.0).contains(&seconds) => Ok(seconds),
        _ => Err("must be a number of seconds between 0 and 31536000".to_owned()),
    }
}

/// A duration in seconds, above 0 and at most one year.
fn parse_fraction(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{value:?} is not a fraction between 0 and 1")),
    }
}

fn parse_positive_seconds(value: &str) -> Result<f64, String> {
    match parse_seconds(value)? {
        0.0 => Err("must be more than 0 seconds".to_owned()),
        seconds => Ok(seconds),
    }
}

/// A duration from seconds validated by the parsers above.
pub fn seconds(value: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(value)
}

/// An address, or none (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalAddr(pub Option<SocketAddr>);

fn parse_optional_addr(value: &str) -> Result<OptionalAddr, String> {
    if value == "off" {
        return Ok(OptionalAddr(None));
    }
    value
        .parse()
        .map(|addr| OptionalAddr(Some(addr)))
        .map_err(|_| "must be host:port (for example 127.0.0.1:9464) or off".to_owned())
}

fn parse_database_url(value: &str) -> Result<String, String> {
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        Ok(value.to_owned())
    } else {
        Err("must start with postgres:// or postgresql://".to_owned())
    }
}

/// Hides the password of a database URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<redacted>".to_owned();
    };
    match rest.split_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            if user_info.contains(':') {
                format!("{scheme}://{user}:***@{host}")
            } else {
                format!("{scheme}://{user}@{host}")
            }
        }
        None => url.to_owned(),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("database_wait_seconds", &self.database_wait_seconds)
            .field("data_dir", &self.data_dir)
            .field("postgres_bin_dir", &self.postgres_bin_dir)
            .field("pool_size", &self.pool_size)
            .field("snapshot_connections", &self.snapshot_connections)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("default_deadline_seconds", &self.default_deadline_seconds)
            .field("max_concurrent_calls", &self.max_concurrent_calls)
            .field("admin_token_file", &self.admin_token_file)
            .field("max_watches_per_token", &self.max_watches_per_token)
            .field("anonymous_reads", &self.anonymous_reads)
            .field("read_cache", &self.read_cache)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .field("tls_client_ca_file", &self.tls_client_ca_file)
            .field("shutdown_grace_seconds", &self.shutdown_grace_seconds)
            .field(
                "max_connection_age_seconds",
                &self.max_connection_age_seconds,
            )
            .field(
                "max_connection_age_grace_seconds",
                &self.max_connection_age_grace_seconds,
            )
            .field("health_check_seconds", &self.health_check_seconds)
            .field("health_listen", &self.health_listen)
            .field("metrics_listen", &self.metrics_listen.0)
            .field("watch_bookmark_seconds", &self.watch_bookmark_seconds)
            .field(
                "watch_slow_consumer_seconds",
                &self.watch_slow_consumer_seconds,
            )
            .field("max_watches", &self.max_watches)
            .field("change_poll_seconds", &self.change_poll_seconds)
            .field("change_retention_seconds", &self.change_retention_seconds)
            .field("change_prune_seconds", &self.change_prune_seconds)
            .field("alert_seconds", &self.alert_seconds)
            .field(
                "availability_alert_threshold",
                &self.availability_alert_threshold,
            )
            .field(
                "availability_alert_window_seconds",
                &self.availability_alert_window_seconds,
            )
            .field("log_format", &self.log_format)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_debug_output() {
        let config = Config::parse_from([
            "frontierwatch-server",
            "--database-url",
            "postgres://fw:hunter2@db:5432/fw",
        ]);
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("fw:***@db:5432/fw"), "{shown}");
    }

    #[test]
    fn bad_values_are_refused_with_a_clear_message() {
        let err = Config::try_parse_from(["x", "--pool-size", "0"])
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("pool-size"));
        let err = Config::try_parse_from(["x", "--database-url", "mysql://a"])
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("postgres://"));
        assert!(Config::try_parse_from(["x", "--listen", "nowhere"]).is_err());
    }
}
