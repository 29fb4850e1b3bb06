"""The HTTP client of metric fetches: where it may connect, and for how long.

A Metric's urlTemplate is written by its author, not by the operator, so two things are refused
at run time whatever validation said:

* link-local addresses (169.254.0.0/16, fe80::/10) and the cloud metadata services' names and
  addresses: they hand out the node's credentials to whoever asks. Names are resolved here and
  every address is checked before connecting, so a name that resolves (or re-resolves) to a
  forbidden address is refused too;
* a fetch that never ends: `deadline()` bounds the whole exchange — connecting, sending, the
  headers and the body — not each read, so a backend that dribbles a byte a second is cut off
  at the deadline. `read_body` bounds the body's size.

The environment's proxies (HTTP_PROXY, HTTPS_PROXY) are not used (httpx ignores them when
given a transport): a proxy would resolve the name and connect beyond both checks.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from functools import cache
from typing import Any

import httpcore
import httpx

MAX_BODY = 10 * 2**20  # bytes of a backend's answer
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.tencentyun.com",
    }
)
# Metadata services outside the link-local ranges: AWS over IPv6, Alibaba Cloud.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200")
)

_deadline: ContextVar[float | None] = ContextVar("iter8_fetch_deadline", default=None)


class BodyTooLarge(Exception):
    pass


def refusal(host: str) -> str | None:
    """Why a fetch may not go to `host` (a name or an address), or None if it may."""
    name = host.strip("[]").rstrip(".").lower()
    if name in METADATA_NAMES:
        return f"{host} is a cloud metadata service"
    try:
        address = ipaddress.ip_address(name.split("%")[0])  # fe80::1%eth0
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local:
        return f"{host} is a link-local address"
    if address in METADATA_ADDRESSES:
        return f"{host} is a cloud metadata service"
    return None


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every connect, read and write of this thread's requests ends within `seconds` from now."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _remaining(timeout: float | None, error: type[Exception]) -> float | None:
    """The smaller of a per-operation timeout and what is left of the deadline."""
    end = _deadline.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise error("the fetch's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A connection whose reads and writes stop at the deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _remaining(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.SyncBackend):
    """Resolves, refuses forbidden addresses, then connects to the checked addresses only."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if why := refusal(host):
            raise httpcore.ConnectError(f"refused: {why}")
        timeout = _remaining(timeout, httpcore.ConnectTimeout)
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise httpcore.ConnectError(str(error)) from error
        addresses = [info[4][0] for info in found]
        for address in addresses:
            if why := refusal(address):
                raise httpcore.ConnectError(f"refused: {host} resolves to {address}: {why}")
        problem: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in dict.fromkeys(addresses):
            try:
                stream = super().connect_tcp(
                    address, port, _remaining(timeout, httpcore.ConnectTimeout), local_address,
                    socket_options,
                )  # fmt: skip
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                problem = error
                continue
            return _Stream(stream)
        raise problem


@cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context, built once per process: loading the CA bundle takes tens of
    milliseconds, which a client made per iteration paid every time (mock metrics included)."""
    return httpx.create_ssl_context()


class _Transport(httpx.HTTPTransport):
    def __init__(self, max_connections: int) -> None:
        super().__init__(verify=_tls())
        # httpx offers no way to pass httpcore a network backend; give it a pool that has ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=_tls(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            network_backend=_Backend(),
        )


def client(max_connections: int = 8) -> httpx.Client:
    """A client for metric fetches (share one: it pools connections)."""
    return httpx.Client(transport=_Transport(max_connections))


SHARED_CONNECTIONS = 16  # the shared client's connections, as many as the fetch pool's threads


@cache
def shared() -> httpx.Client:
    """The process's client for metric fetches, made on first use and kept: its connections
    stay open between iterations (httpx's clients are thread-safe)."""
    return client(SHARED_CONNECTIONS)


def read_body(response: httpx.Response, limit: int = MAX_BODY) -> bytes:
    """A streamed response's body; BodyTooLarge past `limit` bytes (what was read is dropped)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the answer is {int(declared):,} bytes, more than {limit:,}")
    chunks, size = [], 0
    for chunk in response.iter_bytes():  # decoded: a compressed bomb counts at full size
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the answer is more than {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
