"""Lists and analytics answers as pandas DataFrames and Arrow tables,
with their columns typed: a 10,000-result leaderboard, a list of
releases, a record progression by path."""

from __future__ import annotations

import datetime

import pandas
import pyarrow

from frontierwatch import Client, to_arrow, to_pandas
from frontierwatch.v1 import (
    analytics_pb2,
    benchmark_result_pb2,
    common_pb2,
    frontierwatch_service_pb2 as fw,
    import_pb2,
    progress_pb2,
    release_pb2,
)

from conftest import Server
from test_client import seed, source


def test_a_leaderboard_of_ten_thousand_results_becomes_a_typed_frame(server: Server) -> None:
    with Client(server.address, token_file=server.token_file) as client:
        seed(client, releases=0)
        releases = [
            import_pb2.ImportItem(line=i, release=release_pb2.Release(
                name=f"models/line/releases/r{i}", display_name=f"R{i}", provenance=source()))
            for i in range(1000)
        ]
        client.call(client.api.ImportResources, import_pb2.ImportResourcesRequest(items=releases))
        results = [
            import_pb2.ImportItem(line=i, benchmark_result=benchmark_result_pb2.BenchmarkResult(
                name=f"benchmarkResults/x{i}", release=f"models/line/releases/r{i % 1000}",
                benchmark="benchmarks/bench", score=float(i % 997) / 10,
                publish_date=common_pb2.Date(year=2025, month=1 + i % 12, day=1 + i % 28),
                provenance=source()))
            for i in range(10_000)
        ]
        for start in range(0, len(results), 5000):
            client.call(client.api.ImportResources,
                        import_pb2.ImportResourcesRequest(items=results[start:start + 5000]))
        board = client.call(client.api.GetLeaderboard, analytics_pb2.GetLeaderboardRequest(
            benchmark="benchmarks/bench", limit=1000))
        frame = to_pandas(board)
        rows = board.sections[0].rows
        assert len(frame) == len(rows) == 1000
        assert list(frame["release"]) == [r.release for r in rows]
        assert list(frame["score"]) == [r.score for r in rows]
        assert frame["score"].dtype == "float64"
        assert frame["rank"].dtype == "int64"
        assert (frame["sections.settings_key"] == board.sections[0].settings_key).all()
        assert (frame["benchmark"] == "benchmarks/bench").all()
        assert isinstance(frame["publish_date"].iloc[0], datetime.date)
        assert frame["publish_date"].iloc[0] == datetime.date(
            rows[0].publish_date.year, rows[0].publish_date.month, rows[0].publish_date.day)
        assert frame["verification"].iloc[0] == "VERIFICATION_STATUS_UNSPECIFIED"
        assert frame["provenance.sources"].iloc[0][0]["uri"] == "https://example.com/src"
        table = to_arrow(board)
        assert table.num_rows == 1000
        assert table.schema.field("score").type == pyarrow.float64()
        assert table.schema.field("publish_date").type == pyarrow.date32()
        assert pyarrow.types.is_list(table.schema.field("provenance.sources").type)


def test_a_list_and_a_progression_become_frames(server: Server) -> None:
    with Client(server.address, token_file=server.token_file) as client:
        seed(client, releases=3)
        listed = list(client.pages(client.api.ListReleases, fw.ListReleasesRequest(parent="models/-"), "releases"))
        frame = to_pandas(listed)
        assert list(frame["name"]) == [f"models/line/releases/r{i}" for i in range(3)]
        assert isinstance(frame["create_time"].dtype, pandas.DatetimeTZDtype)
        assert frame["release_date.date"].isna().all()
        for i, day in enumerate((5, 9)):
            client.call(client.api.CreateBenchmarkResult, fw.CreateBenchmarkResultRequest(
                benchmark_result=benchmark_result_pb2.BenchmarkResult(
                    release=f"models/line/releases/r{i}", benchmark="benchmarks/bench",
                    score=50.0 + 10 * i, publish_date=common_pb2.Date(year=2025, month=3, day=day),
                    provenance=source())))
        progression = client.call(client.api.GetRecordProgression, progress_pb2.GetRecordProgressionRequest(
            benchmark="benchmarks/bench"))
        records = to_pandas(progression, "sections.lines.records")
        assert list(records["score"]) == [50.0, 60.0]
        assert list(records["date"]) == [datetime.date(2025, 3, 5), datetime.date(2025, 3, 9)]
        assert (records["sections.lines.saturation"] != "").all()
