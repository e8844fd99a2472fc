"""`fwatch export` and `fwatch ... --save` read back by an independent
reader (pyarrow): typed Parquet columns, the same table as
``to_arrow()``; and the typed iterator of each List method."""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path

import pyarrow
import pyarrow.csv
import pyarrow.parquet

from frontierwatch import Client, to_arrow
from frontierwatch.v1 import (
    analytics_pb2,
    benchmark_result_pb2,
    common_pb2,
    frontierwatch_service_pb2 as fw,
    release_pb2,
    revision_pb2,
)

from conftest import REPO, Server
from test_client import seed, source


def fwatch(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    binary = os.environ.get("FW_FWATCH_BIN") or str(REPO / "target" / "debug" / "fwatch")
    return subprocess.run(
        [binary, "--server", f"http://{server.address}", "--token-file", str(server.token_file), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def results(client: Client, count: int) -> None:
    seed(client, releases=count)
    for i in range(count):
        client.call(client.api.CreateBenchmarkResult, fw.CreateBenchmarkResultRequest(
            benchmark_result=benchmark_result_pb2.BenchmarkResult(
                release=f"models/line/releases/r{i}", benchmark="benchmarks/bench",
                score=40.5 + i, standard_error=0.5 if i % 2 else None,
                publish_date=common_pb2.Date(year=2025, month=1 + i, day=2),
                provenance=source())))


def test_each_list_method_is_a_typed_iterator_of_every_page(server: Server) -> None:
    with Client(server.address, token_file=server.token_file) as client:
        seed(client, releases=5)
        releases = list(client.list_releases(parent="models/-", page_size=2))
        assert [r.name for r in releases] == [f"models/line/releases/r{i}" for i in range(5)]
        assert all(isinstance(r, release_pb2.Release) for r in releases)
        request = fw.ListReleasesRequest(parent="models/line", page_size=3)
        assert [r.name for r in client.list_releases(request)] == [r.name for r in releases]
        assert [o.name for o in client.list_organizations()] == ["organizations/lab"]
        assert list(client.list_offerings()) == []


def test_an_exported_kind_reads_back_typed_from_parquet_and_csv(server: Server, tmp_path: Path) -> None:
    with Client(server.address, token_file=server.token_file) as client:
        results(client, 4)
        stored = sorted(client.list_benchmark_results(), key=lambda r: r.name)
    out = fwatch(server, "export", "results", "--to", str(tmp_path / "results.parquet"))
    assert out.returncode == 0, out.stderr
    table = pyarrow.parquet.read_table(tmp_path / "results.parquet").sort_by("name")
    schema = table.schema
    assert schema.field("score").type == pyarrow.float64()
    assert schema.field("standard_error").type == pyarrow.float64()
    assert schema.field("publish_date").type == pyarrow.date32()
    assert schema.field("create_time").type == pyarrow.timestamp("us", tz="UTC")
    assert schema.field("settings.shots").type == pyarrow.int64()
    assert schema.field("verification").type == pyarrow.string()
    assert pyarrow.types.is_list(schema.field("provenance.sources").type)
    rows = table.to_pylist()
    assert [r["name"] for r in rows] == [r.name for r in stored]
    for row, result in zip(rows, stored, strict=True):
        assert row["score"] == result.score
        assert row["standard_error"] == (result.standard_error if result.HasField("standard_error") else None)
        assert row["publish_date"] == datetime.date(
            result.publish_date.year, result.publish_date.month, result.publish_date.day)
        assert row["create_time"] == result.create_time.ToDatetime(tzinfo=datetime.UTC)
        assert row["verification"] == benchmark_result_pb2.VerificationStatus.Name(result.verification)
        assert len(row["provenance.sources"]) == len(result.provenance.sources)
    out = fwatch(server, "export", "results", "--to", str(tmp_path / "results.csv"))
    assert out.returncode == 0, out.stderr
    csv = pyarrow.csv.read_csv(tmp_path / "results.csv").sort_by("name")
    assert csv.column_names == table.column_names
    assert csv.column("score").to_pylist() == table.column("score").to_pylist()


def test_a_saved_answer_is_the_table_to_arrow_makes(server: Server, tmp_path: Path) -> None:
    with Client(server.address, token_file=server.token_file) as client:
        results(client, 6)
        board = client.call(client.api.GetLeaderboard,
                            analytics_pb2.GetLeaderboardRequest(benchmark="benchmarks/bench"))
    ours = to_arrow(board)
    for name in ("board.parquet", "board.csv", "board.jsonl"):
        out = fwatch(server, "leaderboard", "benchmarks/bench", "--save", str(tmp_path / name))
        assert out.returncode == 0, out.stderr
    saved = pyarrow.parquet.read_table(tmp_path / "board.parquet")
    assert saved.num_rows == ours.num_rows == 6
    assert set(ours.column_names) <= set(saved.column_names)
    for column in ("rank", "release", "score", "publish_date", "sections.settings_key", "benchmark"):
        assert saved.column(column).to_pylist() == ours.column(column).to_pylist(), column
    assert saved.schema.field("rank").type == pyarrow.int64()
    assert saved.schema.field("publish_date").type == pyarrow.date32()
    csv = pyarrow.csv.read_csv(tmp_path / "board.csv")
    assert csv.column("release").to_pylist() == ours.column("release").to_pylist()
    lines = (tmp_path / "board.jsonl").read_text().splitlines()
    assert len(lines) == 6
    # An unknown extension is refused before anything is asked or written.
    out = fwatch(server, "leaderboard", "benchmarks/bench", "--save", str(tmp_path / "board.xlsx"))
    assert out.returncode != 0 and ".parquet" in out.stderr
    assert not (tmp_path / "board.xlsx").exists()


def test_every_kind_of_analytics_answer_saves_as_a_typed_table(server: Server, tmp_path: Path) -> None:
    with Client(server.address, token_file=server.token_file) as client:
        results(client, 4)
        compared = client.call(client.api.CompareReleases, analytics_pb2.CompareReleasesRequest(
            releases=["models/line/releases/r0", "models/line/releases/r3"]))
        history = client.call(client.api.ListRevisions, revision_pb2.ListRevisionsRequest(
            name="benchmarks/bench"))
    saved: dict[str, pyarrow.Table] = {}
    for command, args in {
        "records": ["benchmarks/bench"],
        "line-quality": ["models/line"],
        "compare": ["models/line/releases/r0", "models/line/releases/r3"],
        "timeline": ["models/line"],
        "history": ["benchmarks/bench"],
        "audit": [],
    }.items():
        path = tmp_path / f"{command}.parquet"
        out = fwatch(server, command, *args, "--save", str(path))
        assert out.returncode == 0, (command, out.stderr)
        saved[command] = pyarrow.parquet.read_table(path)
        # The seeded releases have no dates, so the timeline is empty.
        assert saved[command].num_rows > 0 or command == "timeline", command
    assert saved["compare"].num_rows == to_arrow(compared).num_rows
    assert set(to_arrow(compared).column_names) <= set(saved["compare"].column_names)
    assert saved["history"].num_rows == len(history.revisions)
    assert saved["history"].schema.field("commit_time").type == pyarrow.timestamp("us", tz="UTC")
    assert saved["records"].schema.field("score").type == pyarrow.float64()
    assert saved["timeline"].schema.field("date.date").type == pyarrow.date32()
