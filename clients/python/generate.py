"""Generates the package's protobuf messages, gRPC stubs and their type
stubs from ``proto/`` (the contract) and ``clients/python/proto`` (the
error details), with grpcio-tools and mypy-protobuf.

The generated files are committed; ``python generate.py --check`` (run by
the test suite) fails when they differ from what the contract generates.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTRACT = HERE.parent.parent / "proto"
PACKAGE = HERE / "src"
GENERATED = ["frontierwatch/v1", "frontierwatch/rpc"]


def generate(out: Path) -> None:
    bin_dir = Path(sys.executable).parent
    protos = sorted(str(p.relative_to(CONTRACT)) for p in (CONTRACT / "frontierwatch/v1").glob("*.proto"))
    errors = ["frontierwatch/rpc/status.proto"]
    for include, files in ((CONTRACT, protos), (HERE / "proto", errors)):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{include}",
                f"--python_out={out}",
                f"--grpc_python_out={out}",
                f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
                f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
                f"--mypy_out=quiet:{out}",
                f"--mypy_grpc_out=quiet:{out}",
                *files,
            ],
            check=True,
        )
    for directory in GENERATED:
        (out / directory / "__init__.py").touch()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        out = Path(temp)
        generate(out)
        stale = []
        for directory in GENERATED:
            fresh, committed = out / directory, PACKAGE / directory
            names = {p.name for p in fresh.iterdir()} | (
                {p.name for p in committed.iterdir()} if committed.exists() else set()
            )
            for name in sorted(names):
                a, b = fresh / name, committed / name
                if not (a.exists() and b.exists() and filecmp.cmp(a, b, shallow=False)):
                    stale.append(f"{directory}/{name}")
            if not args.check:
                shutil.rmtree(committed, ignore_errors=True)
                shutil.copytree(fresh, committed)
        if args.check and stale:
            print("generated files differ from the contract; run clients/python/generate.py:")
            for name in stale:
                print(f"  {name}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
