"""Errors of the API as exceptions that carry what the server said: the
gRPC code, the ``google.rpc.ErrorInfo`` reason and metadata, and the
``google.rpc.BadRequest`` field violations."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from frontierwatch.rpc import status_pb2

_DETAILS = "grpc-status-details-bin"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request: its path and why."""

    field: str
    description: str


@dataclass
class FrontierWatchError(Exception):
    """A call the server refused, or that could not reach it."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    field_violations: list[FieldViolation] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.code.name}: {self.message}"
        if self.reason:
            text += f" ({self.reason})"
        for v in self.field_violations:
            text += f"\n  {v.field}: {v.description}"
        return text

    @classmethod
    def of(cls, error: grpc.RpcError) -> FrontierWatchError:
        """The exception for a failed call, its details decoded."""
        code: grpc.StatusCode = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
        message: str = (error.details() or "") if isinstance(error, grpc.Call) else str(error)
        result = cls(code=code, message=message)
        trailers: tuple[tuple[str, str | bytes], ...] = (
            tuple(error.trailing_metadata() or ()) if isinstance(error, grpc.Call) else ()
        )
        for key, value in trailers:
            if key != _DETAILS or not isinstance(value, bytes):
                continue
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.type_url == _ERROR_INFO:
                    info = status_pb2.ErrorInfo.FromString(detail.value)
                    result.reason = info.reason
                    result.metadata = dict(info.metadata)
                elif detail.type_url == _BAD_REQUEST:
                    bad = status_pb2.BadRequest.FromString(detail.value)
                    result.field_violations = [
                        FieldViolation(v.field, v.description) for v in bad.field_violations
                    ]
        return result


class WatchCursorExpired(FrontierWatchError):
    """The resume point is older than the server's retained change log:
    watch again with ``snapshot=True``."""


class WatchLogReset(FrontierWatchError):
    """The server's change log went back below what was received (a
    restore, a failover): watch again with ``snapshot=True``."""
