"""The real server binary on its embedded PostgreSQL (a private cluster in
a temporary directory), started for each test that asks for it and
stopped after, whether the test passes or not."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _binary() -> str:
    given = os.environ.get("FW_SERVER_BIN")
    if given:
        return given
    return str(REPO / "target" / "debug" / "frontierwatch-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """One server process on a data directory that outlives restarts."""

    def __init__(self, root: Path, *args: str) -> None:
        self.root = root
        self.args = list(args)
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.token_file = root / ".frontierwatch" / "admin-token"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = root / "server.log"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    _binary(),
                    "--listen",
                    self.address,
                    "--metrics-listen",
                    "127.0.0.1:0",
                    "--data-dir",
                    str(self.root / "pg"),
                    "--shutdown-grace-seconds",
                    "2",
                    *self.args,
                ],
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            if self.token_file.exists():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError("the server did not start in 120 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def server_root() -> Path:
    """A directory the cluster's user can reach (pytest's own temporary
    directories are the caller's alone, and PostgreSQL runs as `postgres`
    when the tests run as root)."""
    root = Path(tempfile.mkdtemp(prefix="fw-py-"))
    root.chmod(0o755)
    return root


@pytest.fixture
def server() -> Iterator[Server]:
    root = server_root()
    s = Server(root)
    try:
        s.start()
        yield s
    finally:
        s.stop()
        shutil.rmtree(root, ignore_errors=True)
