"""The HTTP client the broker delivers with: httpx, one transport per delivering thread.

One shared `httpx.Client` serialises every thread on its connection pool's lock (most of the
broker's time went there under load), and the `Client` layers (auth, redirects, cookies) cost a
third of each request while a broker needs none of them; so each thread gets its own
`httpx.HTTPTransport` and its own keep-alive connections.
"""

from __future__ import annotations

import functools
import socket
import ssl
import threading

import httpx

from eventing.broker.wire import header_map

DEFAULT_TIMEOUT = 900.0  # the InMemoryChannel's fan-out gives up after 15 minutes
# httpx writes headers and body separately; without this they would wait for delayed ACKs.
NO_DELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


@functools.lru_cache(maxsize=1024)
def _url(text: str) -> httpx.URL:
    return httpx.URL(text)


@functools.lru_cache(maxsize=64)
def _timeouts(seconds: float) -> dict[str, float | None]:
    return httpx.Timeout(seconds).as_dict()


class Sender:
    def __init__(self, connections_per_thread: int = 8) -> None:
        self._limits = httpx.Limits(
            max_connections=connections_per_thread,
            max_keepalive_connections=connections_per_thread,
        )
        self._tls = ssl.create_default_context()
        self._local = threading.local()
        self._transports: list[httpx.HTTPTransport] = []
        self._lock = threading.Lock()
        self._closed = False

    def _transport(self) -> httpx.HTTPTransport:
        transport = getattr(self._local, "transport", None)
        if transport is None:
            # Proxies from the environment are never used (trust_env has no say here); one TLS
            # context for all, since building one costs milliseconds.
            transport = httpx.HTTPTransport(
                verify=self._tls, limits=self._limits, socket_options=NO_DELAY
            )
            with self._lock:
                if self._closed:
                    raise RuntimeError("the broker is stopping")
                self._transports.append(transport)
            self._local.transport = transport
        return transport

    def post(
        self, url: str, headers: list[tuple[str, str]], body: bytes, timeout: float | None
    ) -> tuple[int, dict[str, str], bytes]:
        """Status, lower-cased headers and body; raises on transport errors."""
        encoded = [(name.encode("ascii"), value.encode()) for name, value in headers]
        request = httpx.Request(
            "POST",
            _url(url),
            headers=encoded,
            content=body,
            extensions={"timeout": _timeouts(timeout or DEFAULT_TIMEOUT)},
        )
        response = self._transport().handle_request(request)
        try:
            content = response.read()
        finally:
            response.close()
        return response.status_code, header_map(response.headers.multi_items()), content

    def close(self) -> None:
        with self._lock:
            self._closed = True
            transports, self._transports = self._transports, []
        for transport in transports:
            transport.close()
