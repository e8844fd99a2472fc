"""Frontier Watch from Python: a typed client of every RPC, paged lists,
and a self-resuming change stream.

    from frontierwatch import Client
    from frontierwatch.v1 import analytics_pb2

    with Client("localhost:50051", token_file=".frontierwatch/admin-token") as client:
        board = client.call(client.api.GetLeaderboard,
                            analytics_pb2.GetLeaderboardRequest(benchmark="benchmarks/gpqa"))
"""

from __future__ import annotations

from typing import Any

from frontierwatch.client import DEFAULT_ADDRESS, Client
from frontierwatch.errors import FieldViolation, FrontierWatchError, WatchCursorExpired, WatchLogReset
from frontierwatch.v1 import watch_pb2
from frontierwatch.watch import SnapshotRestarted, Watch, WatchItem


def to_pandas(answer: Any, path: str | None = None) -> Any:
    """A list or an analytics answer as a pandas DataFrame (the ``pandas``
    extra); see :mod:`frontierwatch.frames`."""
    from frontierwatch.frames import to_pandas as convert

    return convert(answer, path)


def to_arrow(answer: Any, path: str | None = None) -> Any:
    """A list or an analytics answer as a pyarrow Table (the ``pandas``
    extra); see :mod:`frontierwatch.frames`."""
    from frontierwatch.frames import to_arrow as convert

    return convert(answer, path)


def watch(client: Client, request: watch_pb2.WatchRequest | None = None) -> Watch:
    """Subscribes to changes (see :class:`Watch`)."""
    return Watch(client, request or watch_pb2.WatchRequest())


__all__ = [
    "DEFAULT_ADDRESS",
    "Client",
    "FieldViolation",
    "FrontierWatchError",
    "SnapshotRestarted",
    "Watch",
    "WatchCursorExpired",
    "WatchItem",
    "WatchLogReset",
    "to_arrow",
    "to_pandas",
    "watch",
]
