"""``watch()`` against the real server: it resumes across server restarts
with neither a repeat nor a gap (checked against the change log read
afresh), puts a transaction sent in fragments together, and raises
``WatchCursorExpired`` when the change log no longer holds its cursor."""

from __future__ import annotations

import shutil
import signal
import threading
import time
import uuid

import pytest

from frontierwatch import Client, Watch, WatchCursorExpired, watch
from frontierwatch.v1 import (
    frontierwatch_service_pb2 as fw,
    import_pb2,
    organization_pb2,
    watch_pb2,
)

from conftest import Server, server_root

ORGS = watch_pb2.WatchRequest(resource_types=[watch_pb2.RESOURCE_TYPE_ORGANIZATION])


def collect(w: Watch, into: list[tuple[int, str]], stop: threading.Event) -> None:
    for item in w:
        if isinstance(item, watch_pb2.TransactionEvents):
            into.extend((e.sequence, e.resource_name) for e in item.events)
        if stop.is_set():
            return


def create(client: Client, i: int) -> None:
    # The same request id on every retry: a create that committed before
    # the server went down is not made twice.
    request = fw.CreateOrganizationRequest(
        organization_id=f"w{i}",
        organization=organization_pb2.Organization(display_name=f"W{i}"),
        request_id=str(uuid.uuid4()),
    )
    client.call(client.api.CreateOrganization, request, retry=True)


def the_log(client: Client, head: int) -> list[tuple[int, str]]:
    """Every organization change in the change log up to `head`, read by a
    new watch from the start."""
    seen: list[tuple[int, str]] = []
    request = watch_pb2.WatchRequest()
    request.CopyFrom(ORGS)
    request.start_after_sequence = 0
    with watch(client, request) as w:
        for item in w:
            if isinstance(item, watch_pb2.TransactionEvents):
                seen.extend((e.sequence, e.resource_name) for e in item.events)
            if w.last_sequence is not None and w.last_sequence >= head:
                return seen
    return seen


def test_a_watch_survives_server_restarts_without_repeats_or_gaps(server: Server) -> None:
    client = Client(server.address, token_file=server.token_file)
    request = watch_pb2.WatchRequest()
    request.CopyFrom(ORGS)
    request.start_after_sequence = 0
    w = watch(client, request)
    received: list[tuple[int, str]] = []
    stop = threading.Event()
    reader = threading.Thread(target=collect, args=(w, received, stop), daemon=True)
    reader.start()
    for i in range(30):
        create(client, i)
        if i in (9, 19):
            # Stopped (SIGTERM: watchers get SERVER_SHUTTING_DOWN) and
            # started again on the same data, while the watch runs.
            server.stop(signal.SIGTERM)
            time.sleep(0.5)
            server.start()
    deadline = time.monotonic() + 60
    while len(received) < 30 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    w.close()
    names = [name for _, name in received]
    assert names == [f"organizations/w{i}" for i in range(30)], names
    sequences = [seq for seq, _ in received]
    assert sequences == sorted(set(sequences)), "each event once, in order"
    assert received == the_log(client, sequences[-1]), "what the watch saw is the change log"
    client.close()


def test_a_transaction_sent_in_fragments_arrives_whole(server: Server) -> None:
    with Client(server.address, token_file=server.token_file) as client:
        request = watch_pb2.WatchRequest()
        request.CopyFrom(ORGS)
        request.start_after_sequence = 0
        w = watch(client, request)
        # 1,500 organizations of about 1.5 KB each in one import call: one
        # transaction, over the stream's 1 MiB message budget.
        items = [
            import_pb2.ImportItem(
                line=i,
                organization=organization_pb2.Organization(
                    name=f"organizations/big-{i}",
                    display_name=f"Big {i}",
                    aliases=[f"alias {i} {k} " + "x" * 60 for k in range(20)],
                ),
            )
            for i in range(1500)
        ]
        client.call(client.api.ImportResources, import_pb2.ImportResourcesRequest(items=items))
        first = next(item for item in w if isinstance(item, watch_pb2.TransactionEvents))
        assert len(first.events) == 1500
        assert not first.fragment
        assert {e.resource_name for e in first.events} == {f"organizations/big-{i}" for i in range(1500)}
        sequences = [e.sequence for e in first.events]
        assert sequences == sorted(set(sequences))
        w.close()
        # The server did send it in fragments (else this test shows nothing).
        raw = client.api.Watch(request)
        fragments = 0
        for message in raw:
            if message.WhichOneof("kind") == "transaction":
                if not message.transaction.fragment:
                    break
                fragments += 1
        raw.cancel()
        assert fragments >= 1


def test_an_expired_cursor_raises_and_a_snapshot_starts_again() -> None:
    root = server_root()
    s = Server(root, "--change-retention-seconds", "1", "--change-prune-seconds", "1")
    try:
        s.start()
        with Client(s.address, token_file=s.token_file) as client:
            for i in range(3):
                create(client, i)
            time.sleep(4)
            create(client, 3)
            request = watch_pb2.WatchRequest()
            request.start_after_sequence = 0
            with pytest.raises(WatchCursorExpired) as expired:
                next(iter(watch(client, request)))
            assert expired.value.reason == "WATCH_CURSOR_EXPIRED"
            snapshot = watch_pb2.WatchRequest(snapshot=True, resource_types=[watch_pb2.RESOURCE_TYPE_ORGANIZATION])
            names: list[str] = []
            with watch(client, snapshot) as w:
                for item in w:
                    if isinstance(item, watch_pb2.SnapshotChunk):
                        names.extend(r.resource_name for r in item.resources)
                    elif isinstance(item, watch_pb2.Bookmark) and item.end_of_snapshot:
                        break
            assert [f"organizations/w{i}" for i in range(4)] == sorted(n for n in names if "/w" in n)
    finally:
        s.stop()
        shutil.rmtree(root, ignore_errors=True)
