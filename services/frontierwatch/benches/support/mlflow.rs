//! The peer users would otherwise pick for a registry of models and
//! versions: the MLflow Model Registry, its tracking server installed from
//! PyPI into a virtual environment of its own (`target/mlflow-venv`) and
//! run on a database of the same PostgreSQL, and a small HTTP/1.1 client
//! with keep-alive for its REST API.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufStream};
use tokio::net::TcpStream;

/// The MLflow release compared against.
pub const VERSION: &str = "3.17.2";

/// A running MLflow tracking server; stopped (with its workers) when
/// dropped.
pub struct Mlflow {
    child: Child,
    pub addr: SocketAddr,
}

impl Mlflow {
    /// Installs MLflow if its environment lacks it, and starts its server
    /// on `database_url` (a PostgreSQL URL of the kind the harness gives,
    /// `postgres://user@host:port/db?host=/socket/dir`).
    pub async fn start(database_url: &str, log: &Path) -> Result<Mlflow, String> {
        let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/mlflow-venv");
        let mlflow = venv.join("bin/mlflow");
        let installed = Command::new(&mlflow)
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(VERSION));
        if !installed {
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
            run(Command::new(venv.join("bin/pip")).args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                &format!("mlflow=={VERSION}"),
                "psycopg[binary]",
            ]))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let output = std::fs::File::create(log).map_err(|e| e.to_string())?;
        let child = Command::new(&mlflow)
            .arg("server")
            .arg("--backend-store-uri")
            .arg(sqlalchemy_url(database_url))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(output.try_clone().map_err(|e| e.to_string())?)
            .stderr(output)
            .stdin(Stdio::null())
            // Its own process group: the server starts worker processes,
            // and all of them are stopped together.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("mlflow does not start: {e}"))?;
        let server = Mlflow { child, addr };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(mut http) = Http::connect(addr).await
                && let Ok((200, _)) = http.call("GET", "/health", None).await
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "mlflow did not answer /health within 120 s (its log: {})",
                    log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Mlflow {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("{command:?} does not run: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed: {status}"))
    }
}

/// SQLAlchemy's spelling of a PostgreSQL URL, through psycopg 3.
fn sqlalchemy_url(url: &str) -> String {
    format!(
        "postgresql+psycopg://{}",
        url.trim_start_matches("postgres://")
            .trim_start_matches("postgresql://")
    )
}

/// One keep-alive HTTP/1.1 connection.
pub struct Http {
    stream: BufStream<TcpStream>,
}

impl Http {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Http> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Http {
            stream: BufStream::new(stream),
        })
    }

    /// Sends one request and reads its response: status and body.
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let body = json.unwrap_or("");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.write_all(request.as_bytes()).await?;
        self.stream.flush().await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not an HTTP status line: {line:?}")))?;
        let (mut length, mut chunked) = (0usize, false);
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16)
                    .map_err(|e| std::io::Error::other(format!("chunk size {line:?}: {e}")))?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok((status, body))
    }
}
