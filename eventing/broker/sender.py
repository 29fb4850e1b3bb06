"""The HTTP client the broker delivers with: the standard library's `http.client`, one
keep-alive connection per destination and delivering thread.

A delivery needs none of an HTTP library's layers (redirects, cookies, auth, pools shared across
threads); httpx's pure-Python stack cost most of the broker's CPU per event, and `http.client`
does the same POST for a fraction of it.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from urllib.parse import urlsplit

from eventing.broker.wire import header_map

DEFAULT_TIMEOUT = 900.0  # the InMemoryChannel's fan-out gives up after 15 minutes
# A kept-alive connection the server has closed fails on first use; it is retried once, fresh.
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)

Origin = tuple[str, str, int]


class Sender:
    def __init__(self) -> None:
        self._tls = ssl.create_default_context()
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _connection(self, origin: Origin, timeout: float) -> http.client.HTTPConnection:
        pool: dict[Origin, http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        connection = pool.get(origin)
        if connection is None:
            scheme, host, port = origin
            if scheme == "https":
                connection = http.client.HTTPSConnection(
                    host, port, timeout=timeout, context=self._tls
                )
            else:
                connection = http.client.HTTPConnection(host, port, timeout=timeout)
            with self._lock:
                if self._closed:
                    raise RuntimeError("the broker is stopping")
                self._all.append(connection)
            pool[origin] = connection
        if connection.timeout != timeout:  # settimeout is a system call: only on a change
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
        return connection

    def _drop(self, origin: Origin) -> None:
        connection = self._local.__dict__.get("pool", {}).pop(origin, None)
        if connection is not None:
            connection.close()

    def post(
        self, url: str, headers: list[tuple[str, str]], body: bytes, timeout: float | None
    ) -> tuple[int, dict[str, str], bytes]:
        """Status, lower-cased headers and body; raises on transport errors."""
        parts = urlsplit(url)
        scheme = parts.scheme or "http"
        origin = (scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):
            connection = self._connection(origin, timeout or DEFAULT_TIMEOUT)
            fresh = connection.sock is None
            try:
                connection.putrequest("POST", target, skip_accept_encoding=True)
                for name, value in headers:
                    connection.putheader(name, value)
                connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body)
                if fresh and connection.sock is not None:
                    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                response = connection.getresponse()
                content = response.read()
            except STALE:
                self._drop(origin)
                if fresh or attempt == 2:
                    raise
                continue
            except BaseException:
                self._drop(origin)
                raise
            if response.will_close:
                self._drop(origin)
            return response.status, header_map(response.getheaders()), content
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()
