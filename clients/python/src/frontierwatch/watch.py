"""A self-resuming subscription to the change stream, with the Rust
client crate's contract: it reconnects with backoff after a dropped
connection, a server restart or ``SERVER_SHUTTING_DOWN``, resumes after
the last sequence it delivered (so no event is delivered twice or
skipped), puts fragmented transactions together, and raises
:class:`WatchCursorExpired` or :class:`WatchLogReset` when only a new
snapshot can continue."""

from __future__ import annotations

import random
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from frontierwatch.errors import FrontierWatchError, WatchCursorExpired, WatchLogReset
from frontierwatch.v1 import watch_pb2

if TYPE_CHECKING:
    from frontierwatch.client import Client

#: Codes after which the subscription reconnects rather than ends.
RECONNECT = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.CANCELLED,
)


@dataclass(frozen=True)
class SnapshotRestarted:
    """The connection broke during the snapshot, which starts again from
    its beginning: discard the snapshot chunks received so far."""


WatchItem = watch_pb2.TransactionEvents | watch_pb2.SnapshotChunk | watch_pb2.Bookmark | SnapshotRestarted


class Watch(Iterator[WatchItem]):
    """Iterate it for the stream's items: whole transactions
    (``TransactionEvents``), snapshot chunks, bookmarks, and
    :class:`SnapshotRestarted`. ``last_sequence`` is where to resume
    after; ``close()`` ends it."""

    def __init__(self, client: Client, request: watch_pb2.WatchRequest, max_backoff: float = 5.0) -> None:
        self._client = client
        self._request = request
        self._max_backoff = max_backoff
        self._closed = False
        self._call: Any = None
        self.last_sequence: int | None = (
            request.start_after_sequence if request.HasField("start_after_sequence") else None
        )
        self._items: Generator[WatchItem, None, None] = self._run()

    def __next__(self) -> WatchItem:
        return next(self._items)

    def close(self) -> None:
        """Ends the subscription; iteration stops. Safe to call from
        another thread than the one iterating (that one then stops)."""
        self._closed = True
        if self._call is not None:
            self._call.cancel()
        try:
            self._items.close()
        except ValueError:
            # Being iterated in another thread: the cancelled call ends it.
            pass

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _next_request(self, snapshot_pending: bool) -> watch_pb2.WatchRequest:
        call = watch_pb2.WatchRequest()
        call.CopyFrom(self._request)
        if snapshot_pending:
            call.ClearField("start_after_sequence")
        else:
            call.snapshot = False
            if self.last_sequence is not None:
                call.start_after_sequence = self.last_sequence
        return call

    def _run(self) -> Generator[WatchItem, None, None]:
        snapshot_pending = self._request.snapshot
        attempt = 0
        while not self._closed:
            pending: watch_pb2.TransactionEvents | None = None
            chunks_sent = False
            ended: FrontierWatchError
            try:
                stream = self._client.api.Watch(self._next_request(snapshot_pending))
                self._call = stream
                for message in stream:
                    attempt = 0
                    kind = message.WhichOneof("kind")
                    if kind == "transaction":
                        part = message.transaction
                        if pending is not None and pending.transaction_id == part.transaction_id:
                            pending.events.extend(part.events)
                            pending.fragment = part.fragment
                            whole = pending
                        else:
                            whole = part
                        if whole.fragment:
                            pending = whole
                            continue
                        pending = None
                        if whole.events:
                            self.last_sequence = whole.events[-1].sequence
                        yield whole
                    elif kind == "snapshot":
                        chunks_sent = True
                        yield message.snapshot
                    elif kind == "bookmark":
                        self.last_sequence = message.bookmark.sequence
                        if message.bookmark.end_of_snapshot:
                            snapshot_pending = False
                        yield message.bookmark
                ended = FrontierWatchError(grpc.StatusCode.UNAVAILABLE, "the server ended the stream")
            except grpc.RpcError as e:
                ended = FrontierWatchError.of(e)
            if self._closed:
                return
            if ended.code == grpc.StatusCode.FAILED_PRECONDITION and ended.reason == "WATCH_CURSOR_EXPIRED":
                raise WatchCursorExpired(ended.code, ended.message, ended.reason, ended.metadata)
            if ended.code == grpc.StatusCode.FAILED_PRECONDITION and ended.reason == "WATCH_LOG_RESET":
                raise WatchLogReset(ended.code, ended.message, ended.reason, ended.metadata)
            if ended.code not in RECONNECT:
                raise ended
            if snapshot_pending and chunks_sent:
                yield SnapshotRestarted()
            attempt += 1
            pause = min(self._max_backoff, 0.05 * 2 ** min(attempt, 10))
            time.sleep(pause * (0.5 + random.random() / 2))
