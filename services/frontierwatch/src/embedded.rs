//! The embedded default database: a private PostgreSQL cluster started from
//! the system's binaries when no database URL is configured.
//!
//! The cluster listens only on a Unix socket inside its data directory. Run
//! as root, PostgreSQL runs as the `postgres` user, since it refuses to run
//! as root. A small watchdog process holds a pipe from us: when this process
//! ends for any reason, even SIGKILL, the pipe closes and the watchdog stops
//! the cluster, so no run leaves a PostgreSQL behind.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::{Context as _, bail};

/// The environment variable naming the directory of `initdb` and `pg_ctl`.
pub const BIN_DIR_ENV: &str = "FRONTIERWATCH_POSTGRES_BIN_DIR";

/// The socket port number (only names the socket file: no TCP listener).
const PORT: u16 = 5432;

/// A running private PostgreSQL cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    bin_dir: PathBuf,
    run_as_postgres: bool,
    watchdog: Option<(Child, ChildStdin)>,
}

/// Finds the PostgreSQL server binaries: the configured directory, then
/// `PATH`, then `pg_config --bindir`, then `/usr/lib/postgresql/*/bin`
/// (newest version first).
pub fn find_bin_dir(configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = configured {
        if has_tools(dir) {
            return Ok(dir.to_owned());
        }
        bail!(
            "--postgres-bin-dir ({BIN_DIR_ENV}) is {}, but initdb and pg_ctl are not there",
            dir.display()
        );
    }
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_tools(d))
    {
        return Ok(dir);
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && has_tools(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_tools(dir))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Ok(dir);
    }
    bail!(
        "no PostgreSQL server binaries found (initdb, pg_ctl): install PostgreSQL \
         (Debian: apt-get install postgresql), set {BIN_DIR_ENV} to their directory, \
         or set DATABASE_URL to use an existing database"
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl EmbeddedPostgres {
    /// Initializes the cluster in `data_dir` if needed and starts it.
    pub fn start(data_dir: &Path, bin_dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(data_dir, bin_dir, "")
    }

    /// `start`, with more server options (`-c name=value ...`) after the
    /// defaults, which they override (tests use it to listen on TCP with
    /// TLS).
    pub fn start_with(data_dir: &Path, bin_dir: &Path, extra: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| {
            format!(
                "cannot create data directory {} (--data-dir)",
                data_dir.display()
            )
        })?;
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("cannot resolve {} (--data-dir)", data_dir.display()))?;
        // Unix socket paths are limited to about 107 bytes.
        if data_dir.join(".s.PGSQL.5432.lock").as_os_str().len() > 100 {
            bail!(
                "data directory path {} (--data-dir) is too long for a Unix socket; choose a shorter one",
                data_dir.display()
            );
        }
        let mut pg = Self {
            data_dir,
            bin_dir: bin_dir.to_owned(),
            run_as_postgres: is_root(),
            watchdog: None,
        };
        if pg.run_as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&pg.data_dir)
                .status()
                .context("cannot run chown")?;
            if !status.success() {
                bail!(
                    "cannot give {} to the postgres user (does the user exist?)",
                    pg.data_dir.display()
                );
            }
            std::fs::set_permissions(
                &pg.data_dir,
                std::os::unix::fs::PermissionsExt::from_mode(0o700),
            )
            .context("cannot restrict the data directory")?;
        }
        if !pg.data_dir.join("PG_VERSION").exists() {
            pg.run(
                "initdb",
                &[
                    "-D".as_ref(),
                    pg.data_dir.as_os_str(),
                    "-U".as_ref(),
                    "postgres".as_ref(),
                    "--auth=trust".as_ref(),
                    "-E".as_ref(),
                    "UTF8".as_ref(),
                    "--locale=C".as_ref(),
                ],
            )
            .context("initdb failed")?;
        }
        if !pg.is_running() {
            let log = pg.data_dir.join("postgresql.log");
            let options = format!(
                "-c listen_addresses='' -k {} -p {PORT} -c max_connections=200 {extra}",
                pg.data_dir.display()
            );
            pg.run(
                "pg_ctl",
                &[
                    "start".as_ref(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "-D".as_ref(),
                    pg.data_dir.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-o".as_ref(),
                    options.as_ref(),
                ],
            )
            .with_context(|| format!("pg_ctl start failed; see {}", log.display()))?;
            pg.watchdog = Some(pg.spawn_watchdog()?);
        }
        Ok(pg)
    }

    /// A connection URL for `database` over the cluster's socket.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@localhost:{PORT}/{database}?host={}",
            self.data_dir.display()
        )
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn command(&self, tool: &str) -> Command {
        let program = self.bin_dir.join(tool);
        let mut command = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        // Our own process group: a terminal's Ctrl-C reaches only us, and we
        // stop PostgreSQL in order after draining requests.
        command.process_group(0);
        command
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
        let output = self
            .command(tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {tool}"))?;
        if !output.status.success() {
            bail!(
                "{tool} exited with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn spawn_watchdog(&self) -> anyhow::Result<(Child, ChildStdin)> {
        let pg_ctl = self.bin_dir.join("pg_ctl");
        let stop = if self.run_as_postgres {
            "exec runuser -u postgres -- \"$1\" stop -m fast -D \"$2\" >/dev/null 2>&1"
        } else {
            "exec \"$1\" stop -m fast -D \"$2\" >/dev/null 2>&1"
        };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("cat >/dev/null; {stop}"))
            .arg("frontierwatch-postgres-watchdog")
            .arg(pg_ctl)
            .arg(&self.data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("cannot start the PostgreSQL watchdog")?;
        let stdin = child.stdin.take().context("watchdog has no stdin")?;
        Ok((child, stdin))
    }

    /// Stops the cluster (fast shutdown) if this process started it, and
    /// waits for it to be down.
    pub fn stop(&mut self) {
        if let Some((mut child, mut stdin)) = self.watchdog.take() {
            let _ = stdin.flush();
            drop(stdin);
            let _ = child.wait();
        }
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Creates a database in the cluster unless it exists (SQL lives in
/// `storage`).
pub use crate::storage::admin::ensure_database;
