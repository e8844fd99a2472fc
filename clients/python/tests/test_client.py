"""The client against the real server: every RPC reachable and typed,
paged lists, errors with their code, reason and field violations, the
token and trace context sent, bad settings refused clearly."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

import grpc
import pytest

from frontierwatch import Client, FrontierWatchError
from frontierwatch.v1 import (
    analytics_pb2,
    benchmark_pb2,
    benchmark_result_pb2,
    common_pb2,
    frontierwatch_service_pb2 as fw,
    model_pb2,
    organization_pb2,
    release_pb2,
)
from frontierwatch.v1 import frontierwatch_service_pb2_grpc as service_grpc

from conftest import Server, server_root


def source() -> common_pb2.Provenance:
    return common_pb2.Provenance(sources=[common_pb2.Source(uri="https://example.com/src", publisher="Test")])


def seed(client: Client, releases: int = 3) -> None:
    api = client.api
    client.call(api.CreateOrganization, fw.CreateOrganizationRequest(
        organization_id="lab", organization=organization_pb2.Organization(display_name="Lab")))
    client.call(api.CreateModel, fw.CreateModelRequest(
        model_id="line", model=model_pb2.Model(display_name="Line", developers=["organizations/lab"])))
    client.call(api.CreateBenchmark, fw.CreateBenchmarkRequest(
        benchmark_id="bench", benchmark=benchmark_pb2.Benchmark(
            display_name="Bench", scale=benchmark_pb2.SCORE_SCALE_PERCENT,
            direction=benchmark_pb2.SCORE_DIRECTION_HIGHER_IS_BETTER)))
    for i in range(releases):
        client.call(api.CreateRelease, fw.CreateReleaseRequest(
            parent="models/line", release_id=f"r{i}",
            release=release_pb2.Release(display_name=f"R{i}", provenance=source())))


def test_every_rpc_of_the_contract_is_a_typed_method(server: Server) -> None:
    descriptor = fw.DESCRIPTOR.services_by_name["FrontierWatchService"]
    with Client(server.address, token_file=server.token_file) as client:
        for method in descriptor.methods:
            assert callable(getattr(client.api, method.name)), method.name
    assert service_grpc.FrontierWatchServiceStub is type(client.api)


def test_lists_are_walked_page_by_page_and_results_rank(server: Server) -> None:
    with Client(server.address, token_file=server.token_file) as client:
        seed(client, releases=7)
        request = fw.ListReleasesRequest(parent="models/-", page_size=2)
        names = [r.name for r in client.pages(client.api.ListReleases, request, "releases")]
        assert names == [f"models/line/releases/r{i}" for i in range(7)]
        for i in range(7):
            client.call(client.api.CreateBenchmarkResult, fw.CreateBenchmarkResultRequest(
                benchmark_result=benchmark_result_pb2.BenchmarkResult(
                    release=f"models/line/releases/r{i}", benchmark="benchmarks/bench",
                    score=50.0 + i, provenance=source())))
        board = client.call(client.api.GetLeaderboard,
                            analytics_pb2.GetLeaderboardRequest(benchmark="benchmarks/bench"))
        assert [row.release for row in board.sections[0].rows][:2] == [
            "models/line/releases/r6", "models/line/releases/r5"]


def test_errors_carry_code_reason_and_field_violations(server: Server) -> None:
    with Client(server.address, token_file=server.token_file) as client:
        with pytest.raises(FrontierWatchError) as bad:
            client.call(client.api.CreateOrganization, fw.CreateOrganizationRequest(
                organization_id="x", organization=organization_pb2.Organization(country="usa")))
        assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert bad.value.reason == "INVALID_ARGUMENT"
        fields = {v.field for v in bad.value.field_violations}
        assert {"organization.display_name", "organization.country"} <= fields, fields
        with pytest.raises(FrontierWatchError) as missing:
            client.call(client.api.GetRelease, fw.GetReleaseRequest(name="models/none/releases/none"))
        assert missing.value.code == grpc.StatusCode.NOT_FOUND
        assert missing.value.reason == "RESOURCE_NOT_FOUND"
    # No token: a clear UNAUTHENTICATED.
    with Client(server.address) as anonymous:
        with pytest.raises(FrontierWatchError) as refused:
            anonymous.call(anonymous.api.ListOrganizations, fw.ListOrganizationsRequest(), retry=False)
        assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_bad_settings_are_refused_clearly(tmp_path: object) -> None:
    with pytest.raises(FrontierWatchError) as unreadable:
        Client("127.0.0.1:1", token_file="/nonexistent/token")
    assert "token file" in str(unreadable.value)
    with pytest.raises(FrontierWatchError) as ca:
        Client("127.0.0.1:1", ca_file="/nonexistent/ca.pem")
    assert "CA file" in str(ca.value)


def test_the_readme_python_blocks_work_as_written(server: Server) -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    with Client(server.address, token_file=server.token_file) as client:
        seed(client)
        client.call(client.api.CreateBenchmarkResult, fw.CreateBenchmarkResultRequest(
            benchmark_result=benchmark_result_pb2.BenchmarkResult(
                release="models/line/releases/r1", benchmark="benchmarks/bench",
                score=61.5, provenance=source())))
    printed = ""
    for marker in ("<!-- python-session -->", "<!-- python-pandas -->"):
        block = readme.split(marker, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
        # The README's address, token file and benchmark, for this server's.
        code = block.replace("localhost:50051", server.address).replace(
            ".frontierwatch/admin-token", str(server.token_file)
        ).replace("benchmarks/gpqa", "benchmarks/bench")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})
        printed += out.getvalue()
    assert "organizations/lab Lab" in printed, printed
    assert "models/line/releases/r2" in printed, printed
    assert "61.5" in printed and "models/line/releases/r1" in printed, printed


def test_a_tls_server_is_reached_with_its_ca_and_a_wrong_ca_is_refused() -> None:
    # The Rust test that runs this suite makes the certificates
    # (tests/api/python_client.rs); by hand, set FW_TLS_DIR to a directory
    # with ca.crt, server.crt, server.key (for localhost) and other-ca.crt.
    if "FW_TLS_DIR" not in os.environ:
        pytest.skip("FW_TLS_DIR is not set (the Rust test that runs this suite sets it)")
    tls = Path(os.environ["FW_TLS_DIR"])
    root = server_root()
    s = Server(root, "--tls-cert-file", str(tls / "server.crt"), "--tls-key-file", str(tls / "server.key"))
    try:
        s.start()
        address = f"https://localhost:{s.port}"
        with Client(address, token_file=s.token_file, ca_file=tls / "ca.crt") as client:
            client.call(client.api.ListOrganizations, fw.ListOrganizationsRequest())
        with Client(address, token_file=s.token_file, ca_file=tls / "other-ca.crt") as client:
            with pytest.raises(FrontierWatchError) as wrong:
                client.call(client.api.ListOrganizations, fw.ListOrganizationsRequest(), retry=False)
        assert wrong.value.code == grpc.StatusCode.UNAVAILABLE, wrong.value
    finally:
        s.stop()
        shutil.rmtree(root, ignore_errors=True)
