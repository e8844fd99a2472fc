"""The client: a channel to the server with the token, TLS and trace
context ``fwatch`` uses, every RPC through ``Client.api``, errors as
:class:`FrontierWatchError`, and lists walked page by page."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc

from frontierwatch.errors import FrontierWatchError
from frontierwatch.lists import Lists
from frontierwatch.v1 import frontierwatch_service_pb2_grpc as service

Request = TypeVar("Request")
Response = TypeVar("Response")

#: The address when none is given and ``FWATCH_SERVER`` is unset.
DEFAULT_ADDRESS = "localhost:50051"
#: Codes a read is retried on (the server restarting, a dropped connection).
RETRIED = (grpc.StatusCode.UNAVAILABLE,)


def traceparent() -> str:
    """A fresh W3C ``traceparent``: a new trace for every call."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


class _Metadata(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Adds the bearer token and a ``traceparent`` to every call."""

    def __init__(self, token: str | None) -> None:
        self._token = token

    def _details(self, details: Any) -> Any:
        metadata = list(details.metadata or [])
        if self._token:
            metadata.append(("authorization", f"Bearer {self._token}"))
        metadata.append(("traceparent", traceparent()))
        return details._replace(metadata=metadata) if hasattr(details, "_replace") else _Details(details, metadata)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)


class _Details(grpc.ClientCallDetails):
    def __init__(self, base: Any, metadata: list[tuple[str, str]]) -> None:
        self.method = base.method
        self.timeout = base.timeout
        self.metadata = tuple(metadata)
        self.credentials = base.credentials
        self.wait_for_ready = getattr(base, "wait_for_ready", None)
        self.compression = getattr(base, "compression", None)


class _Page(Protocol):
    next_page_token: str


def _read(path: str | os.PathLike[str] | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise FrontierWatchError(grpc.StatusCode.INVALID_ARGUMENT, f"cannot read the {what} {path}: {e.strerror}") from e


class Client(Lists):
    """A connection to a Frontier Watch server.

    ``address`` is ``host:port``, or a URL: ``https://`` uses TLS, as does
    ``ca_file``. The defaults follow ``fwatch``: ``FWATCH_SERVER``,
    ``FWATCH_TOKEN``, ``FWATCH_TOKEN_FILE`` and ``FWATCH_CA_FILE``. Every
    RPC is a typed method of :attr:`api`; :meth:`call` runs one with its
    errors as :class:`FrontierWatchError` (and idempotent reads retried
    while the server is unavailable), :meth:`pages` walks a List.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        token: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        client_cert: str | os.PathLike[str] | None = None,
        client_key: str | os.PathLike[str] | None = None,
        timeout: float | None = 30.0,
    ) -> None:
        address = address or os.environ.get("FWATCH_SERVER") or DEFAULT_ADDRESS
        tls = address.startswith("https://")
        target = address.removeprefix("https://").removeprefix("http://").rstrip("/")
        token = token or os.environ.get("FWATCH_TOKEN") or None
        token_file = token_file or os.environ.get("FWATCH_TOKEN_FILE") or None
        if token is None and token_file is not None:
            token = (_read(token_file, "token file") or b"").decode().strip()
        ca_file = ca_file or os.environ.get("FWATCH_CA_FILE") or None
        if ca_file is not None or client_cert is not None:
            tls = True
        if tls:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(ca_file, "CA file"),
                private_key=_read(client_key, "client key"),
                certificate_chain=_read(client_cert, "client certificate"),
            )
            channel = grpc.secure_channel(target, credentials)
        else:
            channel = grpc.insecure_channel(target)
        self.address = target
        self.timeout = timeout
        self._channel = channel
        self.channel: grpc.Channel = grpc.intercept_channel(channel, _Metadata(token))
        #: Every RPC of ``frontierwatch.v1.FrontierWatchService``, typed.
        self.api = service.FrontierWatchServiceStub(self.channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def call(
        self,
        method: Callable[..., Response],
        request: Any,
        *,
        retry: bool | None = None,
    ) -> Response:
        """Runs one RPC: ``client.call(client.api.GetRelease,
        GetReleaseRequest(name=...))``. Failures raise
        :class:`FrontierWatchError`. Reads (Get, List and the analytics)
        are retried while the server is unavailable, for about a minute;
        ``retry`` overrides."""
        name = getattr(method, "_method", b"")
        name = name.decode() if isinstance(name, bytes) else str(name)
        rpc = name.rsplit("/", 1)[-1]
        if retry is None:
            retry = rpc.startswith(("Get", "List", "Compare"))
        deadline = time.monotonic() + 60
        pause = 0.1
        while True:
            try:
                return method(request, timeout=self.timeout)
            except grpc.RpcError as e:
                error = FrontierWatchError.of(e)
                if not (retry and error.code in RETRIED and time.monotonic() < deadline):
                    raise error from None
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    def pages(self, method: Callable[..., Any], request: Any, field: str) -> Iterator[Any]:
        """Every item of a List, a page at a time: ``client.pages(
        client.api.ListReleases, ListReleasesRequest(parent="models/-"),
        "releases")``."""
        request.page_size = request.page_size or 1000
        while True:
            page = self.call(method, request)
            yield from getattr(page, field)
            token: str = page.next_page_token
            if not token:
                return
            request.page_token = token
