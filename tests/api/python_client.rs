//! The Python client (`clients/python`): its generated stubs are what the
//! contract generates, `mypy --strict` passes on the package, and its
//! pytest suite passes against this build's server binary on an embedded
//! PostgreSQL (`clients/python/tests`, including a watch that runs
//! through two server restarts); and, installed alone (no extras) in a
//! virtual environment of its own, the package runs the README's Python
//! block as written. The package and its tools are installed from PyPI
//! into virtual environments under the target directory.

use std::path::{Path, PathBuf};
use std::process::Command;

fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients/python")
}

/// The virtual environment for the tests, made on first use, with the
/// package installed afresh from `clients/python` (so the tests run what
/// `pip install` gives a user) and its development extra: grpcio-tools,
/// mypy-protobuf, mypy, pytest, pandas, pyarrow, the type stubs.
fn venv() -> PathBuf {
    venv_with("python-venv", "[dev]")
}

/// A virtual environment under the target directory with the package
/// installed with `extra` (`""` for none: grpcio and protobuf alone).
fn venv_with(name: &str, extra: &str) -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let python = venv.join("bin/python");
    if !python.is_file() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    }
    // From a copy of its own: pip builds in the source tree (build/,
    // *.egg-info), and two environments are made at once by two tests.
    let package = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-package"));
    let _ = std::fs::remove_dir_all(&package);
    copy_package(&python_dir(), &package);
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(format!("{}{extra}", package.display())));
    // The package itself again, in case only its sources changed.
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--force-reinstall",
            "--no-deps",
        ])
        .arg(&package));
    python
}

/// Copies the package's sources, without what builds and tests leave.
fn copy_package(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("package copy");
    for entry in std::fs::read_dir(from).expect("package dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "build"
            || name.ends_with(".egg-info")
            || name.starts_with("__pycache__")
            || name.starts_with('.')
        {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("type").is_dir() {
            copy_package(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copied");
        }
    }
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA with a certificate it signed for localhost, and another CA, for
/// the Python client's TLS tests: `ca.crt`, `server.crt`, `server.key`,
/// `other-ca.crt`.
fn tls_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-tls");
        std::fs::create_dir_all(&dir).expect("tls dir");
        let (ca, cert, key) = crate::tls::authority("python");
        let (other, _, _) = crate::tls::authority("other");
        for (name, text) in [
            ("ca.crt", ca),
            ("server.crt", cert),
            ("server.key", key),
            ("other-ca.crt", other),
        ] {
            std::fs::write(dir.join(name), text).expect("written");
        }
        dir
    })
}

fn run_in(dir: &Path, python: &Path, args: &[&str]) -> (Option<i32>, String) {
    run_with(dir, python, args, &[])
}

/// [`run_in`] with these environment variables set too.
fn run_with(
    dir: &Path,
    python: &Path,
    args: &[&str],
    envs: &[(&str, &Path)],
) -> (Option<i32>, String) {
    let output = Command::new(python)
        .args(args)
        .current_dir(dir)
        .env("FW_SERVER_BIN", env!("CARGO_BIN_EXE_frontierwatch-server"))
        .envs(envs.iter().copied())
        .output()
        .expect("python runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[test]
fn the_python_client_is_current_typed_and_passes_its_tests() {
    let python = venv();
    let dir = python_dir();
    let (code, out) = run_in(&dir, &python, &["generate.py", "--check"]);
    assert_eq!(code, Some(0), "stale generated stubs:\n{out}");
    let (code, out) = run_in(
        &dir,
        &python,
        &["-m", "mypy", "--strict", "src/frontierwatch"],
    );
    assert_eq!(code, Some(0), "mypy --strict:\n{out}");
    // fwatch, whose exports the suite reads back, and the certificates of
    // its TLS test: made only for the suite.
    let fwatch = crate::harness::fwatch();
    let (code, out) = run_with(
        &dir,
        &python,
        &["-m", "pytest", "-q", "-p", "no:cacheprovider"],
        &[("FW_FWATCH_BIN", &fwatch), ("FW_TLS_DIR", tls_dir())],
    );
    // pytest exits 5 when it collected nothing: a suite that ran no test
    // has shown nothing, so that fails too.
    assert_ne!(code, Some(5), "pytest collected no tests:\n{out}");
    assert_eq!(code, Some(0), "pytest:\n{out}");
    assert!(out.contains(" passed"), "{out}");
}

/// `pip install ./clients/python` and nothing else (grpcio and protobuf),
/// in a virtual environment of its own, then the README's first Python
/// block as written, run from a directory holding the local server's
/// token file where the block looks for it: what a user of a fresh
/// machine does. Only the address is this server's.
#[tokio::test]
async fn the_readme_python_block_runs_on_the_package_alone() {
    let python = venv_with("python-core-venv", "");
    let (code, out) = run_in(
        &python_dir(),
        &python,
        &[
            "-c",
            "import importlib.util, sys; sys.exit(importlib.util.find_spec('pandas') is not None)",
        ],
    );
    assert_eq!(
        code,
        Some(0),
        "the core package alone pulls in no pandas:\n{out}"
    );
    let server = crate::harness::TestServer::start().await;
    let (ok, _, err) = crate::harness::run_fwatch(
        &server,
        &["create", "organizations", "--id", "lab", "-f", "-"],
        Some("displayName: Lab"),
    );
    assert!(ok, "{err}");
    let readme = std::fs::read_to_string(python_dir().join("../../README.md")).expect("README");
    let block = readme
        .split("<!-- python-session -->")
        .nth(1)
        .and_then(|rest| rest.split("```python\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("the README has its Python block");
    let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-readme");
    std::fs::create_dir_all(home.join(".frontierwatch")).expect("dir");
    std::fs::write(home.join(".frontierwatch/admin-token"), &server.token).expect("token");
    let code = block.replace("localhost:50051", &server.addr.to_string());
    let (status, out) = run_in(&home, &python, &["-c", &code]);
    assert_eq!(status, Some(0), "{out}");
    assert!(out.contains("organizations/lab Lab"), "{out}");
}
