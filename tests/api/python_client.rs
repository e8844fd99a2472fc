//! The Python client (`clients/python`): its generated stubs are what the
//! contract generates, `mypy --strict` passes on the package, and its
//! pytest suite passes against this build's server binary on an embedded
//! PostgreSQL (`clients/python/tests`, including a watch that runs
//! through two server restarts). The package and its tools are installed
//! from PyPI into a virtual environment under the target directory.

use std::path::{Path, PathBuf};
use std::process::Command;

fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients/python")
}

/// The virtual environment, made on first use, with the package installed
/// afresh from `clients/python` (so the tests run what `pip install`
/// gives a user) and its development tools.
fn venv() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-venv");
    let python = venv.join("bin/python");
    if !python.is_file() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    }
    let package = python_dir().canonicalize().expect("clients/python exists");
    // With its development extra: grpcio-tools, mypy-protobuf, mypy,
    // pytest, the type stubs.
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(format!("{}[dev]", package.display())));
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
    let output = Command::new(python)
        .args(args)
        .current_dir(dir)
        .env("FW_SERVER_BIN", env!("CARGO_BIN_EXE_frontierwatch-server"))
        .env("FW_FWATCH_BIN", crate::harness::fwatch())
        .env("FW_TLS_DIR", tls_dir())
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
    let (code, out) = run_in(
        &dir,
        &python,
        &["-m", "pytest", "-q", "-p", "no:cacheprovider"],
    );
    // pytest exits 5 when it collected nothing: a suite that ran no test
    // has shown nothing, so that fails too.
    assert_ne!(code, Some(5), "pytest collected no tests:\n{out}");
    assert_eq!(code, Some(0), "pytest:\n{out}");
    assert!(out.contains(" passed"), "{out}");
}
