"""The HTTP client the broker delivers with: HTTP/1.1 written and read on a plain socket, from a
pool of keep-alive connections per destination shared by every delivering thread.

A delivery is one POST with a small body and a small answer; it needs none of an HTTP library's
layers (redirects, cookies, auth). Measured against the benchmark's subscriber: httpx cost most of
the broker's CPU per event, `http.client` ~120 µs of client CPU per request (its email-based
header parser and per-header checks), this ~25-35 µs. What it does read correctly: 1xx interim
answers, `Content-Length`, chunked bodies with trailers, bodies that end with the connection, and
`Connection: close`.

The pool is Go's `http.Transport` as Knative's filter configures it: idle connections are shared
by all threads (at most `MAX_IDLE_PER_ORIGIN` kept per destination, Knative's
`MaxIdleConnsPerHost`), and closed after `IDLE_TIMEOUT` (Go's `IdleConnTimeout`) or as soon as the
other side closes them (Go's per-connection read loop notices that; here a sweep every second
does), so descriptors follow the deliveries under way, not the clients the broker ever had.
Header values are written as UTF-8 (with `surrogateescape`, so bytes the ingress read that were
not UTF-8 go out as they came), as Go writes a string's bytes.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import threading
import time
from typing import NamedTuple
from urllib.parse import urlsplit

from eventing.broker.wire import header_map

DEFAULT_TIMEOUT = 900.0  # the InMemoryChannel's fan-out gives up after 15 minutes
MAX_IDLE_PER_ORIGIN = 100  # Knative's filter: MaxIdleConnsPerHost
IDLE_TIMEOUT = 90.0  # seconds; Go's http.Transport IdleConnTimeout, which Knative keeps
SWEEP_INTERVAL = 1.0  # seconds between looks for idle connections the other side closed
MAX_HEAD = 64 * 1024  # status line and headers of an answer
# An answer's body: a reply re-enters the ingress, which takes no event over 1 MiB (limits.py);
# twice that leaves room for framing and for answers that are not events, and no more, so a
# subscriber cannot make the broker hold what it sends without end.
MAX_BODY = 2 << 20
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_UNSAFE = re.compile(r"[\r\n\0]")

Origin = tuple[str, str, int]


class ClosedEarly(ConnectionError):
    """The server closed the connection before any of its answer arrived."""


class StaleConnection(ConnectionError):
    """The same on a kept-alive connection: the server had closed it while it was idle."""


class BadResponse(ConnectionError):
    """The answer is not HTTP/1.x as it should be."""


class _Connection:
    def __init__(self, origin: Origin, timeout: float, tls: ssl.SSLContext) -> None:
        scheme, host, port = origin
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = tls.wrap_socket(sock, server_hostname=host) if scheme == "https" else sock
        self.deadline = time.monotonic() + timeout  # of the exchange under way (time.monotonic)
        self.host = host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"
        self.used = False  # has carried a request: a failure before any answer may be staleness
        self.idle_since = 0.0
        self._buffer = b""

    def _arm(self) -> None:
        """The socket's timeout is what is left until the deadline: `delivery.timeout` bounds
        the whole exchange, as Go's `Client.Timeout` does, not each read."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the delivery's timeout passed")
        self.sock.settimeout(left)

    def close(self) -> None:
        self.sock.close()

    def abort(self) -> None:
        """End it even while another thread waits on it (`close` alone would not wake it)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def exchange(
        self, target: str, headers: list[tuple[str, str]], body: bytes, deadline: float
    ) -> _Answer:
        reused, self.used, self.deadline = self.used, True, deadline
        lines = [f"POST {target} HTTP/1.1\r\nHost: {self.host}\r\n"]
        for name, value in headers:
            if _UNSAFE.search(name) or _UNSAFE.search(value):  # no header injection from events
                raise ValueError(f"header {name!r} holds a line break or NUL")
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        try:
            self._arm()
            self.sock.sendall("".join(lines).encode("utf-8", "surrogateescape") + body)
            status_line = self._line()
        except (ConnectionResetError, BrokenPipeError, ClosedEarly) as error:
            if reused:
                raise StaleConnection(str(error)) from error
            raise
        while True:
            version, status = _status(status_line)
            fields = self._fields()
            if not 100 <= status < 200:
                break
            status_line = self._line()  # an interim answer (100 Continue, 103 …): the next one
        content, keep = self._body(status, fields)
        connection = fields.get("connection", "").lower()
        keep = keep and "close" not in connection
        keep = keep and (version != "HTTP/1.0" or "keep-alive" in connection)
        return _Answer(status, fields, content, keep)

    def _fill(self) -> bool:
        self._arm()
        piece = self.sock.recv(65536)
        self._buffer += piece
        return bool(piece)

    def _line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            if len(self._buffer) > MAX_HEAD:
                raise BadResponse("an answer's line is too long")
            if not self._fill():
                raise ClosedEarly("the server closed the connection without an answer")
        line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
        return line

    def _fields(self) -> dict[str, str]:
        pairs, size = [], 0
        while line := self._line():
            size += len(line)
            if size > MAX_HEAD:
                raise BadResponse("an answer's headers are too long")
            name, colon, value = line.decode("utf-8", "surrogateescape").partition(":")
            if colon:
                pairs.append((name.strip(), value.strip()))
        return header_map(pairs)

    def _exactly(self, size: int) -> bytes:
        if size > MAX_BODY:
            raise BadResponse(f"an answer's body is over {MAX_BODY} bytes")
        while len(self._buffer) < size:
            if not self._fill():
                raise BadResponse("the answer ended before its length")
        content, self._buffer = self._buffer[:size], self._buffer[size:]
        return content

    def _body(self, status: int, fields: dict[str, str]) -> tuple[bytes, bool]:
        """The body, and whether the connection can carry another request."""
        if status in (204, 304):
            return b"", True
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return self._chunked(), True
        length = fields.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                raise BadResponse(f"bad Content-Length {length!r}")
            return self._exactly(int(length)), True
        while self._fill():  # no length: the body ends with the connection
            if len(self._buffer) > MAX_BODY:
                raise BadResponse(f"an answer's body is over {MAX_BODY} bytes")
        content, self._buffer = self._buffer, b""
        return content, False

    def _chunked(self) -> bytes:
        pieces, size_so_far = [], 0
        while True:
            size = self._line().split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size):
                raise BadResponse("malformed chunk")
            if int(size, 16) == 0:
                break
            size_so_far += int(size, 16)
            if size_so_far > MAX_BODY:
                raise BadResponse(f"an answer's body is over {MAX_BODY} bytes")
            pieces.append(self._exactly(int(size, 16)))
            if self._line():
                raise BadResponse("malformed chunk end")
        while self._line():  # trailers
            pass
        return b"".join(pieces)


class _Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    content: bytes
    keep: bool  # the connection can carry another request


def _status(line: bytes) -> tuple[str, int]:
    version, _, rest = line.decode("latin-1").partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise BadResponse(f"not an HTTP/1.x status line: {line[:80]!r}")
    return version, int(code)


class Sender:
    """Delivers POSTs; thread-safe, one pool of idle connections per origin for all threads."""

    def __init__(
        self, max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN, idle_timeout: float = IDLE_TIMEOUT
    ) -> None:
        self.max_idle_per_origin, self.idle_timeout = max_idle_per_origin, idle_timeout
        self._tls = ssl.create_default_context()
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()  # idle and in use, so `close` can end them all
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sweeper: threading.Thread | None = None

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def _checkout(self, origin: Origin, timeout: float, reuse: bool) -> _Connection:
        connection = None
        if reuse:
            with self._lock:
                stack = self._idle.get(origin)
                connection = stack.pop() if stack else None
        if connection is None:
            connection = _Connection(origin, timeout, self._tls)
            with self._lock:
                if not self._closed.is_set():
                    self._open.add(connection)
                    return connection
            connection.close()
            raise RuntimeError("the broker is stopping")
        return connection

    def _checkin(self, origin: Origin, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        with self._lock:
            stack = self._idle.setdefault(origin, [])
            if not self._closed.is_set() and len(stack) < self.max_idle_per_origin:
                stack.append(connection)
                if self._sweeper is None:
                    self._sweeper = threading.Thread(
                        target=self._sweep, name="broker-sender-sweep", daemon=True
                    )
                    self._sweeper.start()
                return
            self._open.discard(connection)
        connection.close()

    def _drop(self, connection: _Connection) -> None:
        with self._lock:
            self._open.discard(connection)
        connection.close()

    def _sweep(self) -> None:
        """Close idle connections that are too old or that the other side has closed."""
        while not self._closed.wait(SWEEP_INTERVAL):
            with self._lock:
                idle = [c for stack in self._idle.values() for c in stack]
            cutoff = time.monotonic() - self.idle_timeout
            doomed = {c for c in idle if c.idle_since < cutoff} | _readable(idle)
            if not doomed:
                continue
            taken = []
            with self._lock:  # only those still idle: one checked out meanwhile is its user's
                for origin, stack in self._idle.items():
                    taken += [c for c in stack if c in doomed]
                    self._idle[origin] = [c for c in stack if c not in doomed]
                self._open.difference_update(taken)
            for connection in taken:
                connection.close()

    def post(
        self, url: str, headers: list[tuple[str, str]], body: bytes, timeout: float | None
    ) -> tuple[int, dict[str, str], bytes]:
        """Status, lower-cased headers and body; raises on transport errors."""
        parts = urlsplit(url)
        scheme = parts.scheme or "http"
        origin = (scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        deadline = time.monotonic() + (timeout or DEFAULT_TIMEOUT)
        for reuse in (True, False):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the delivery's timeout passed")
            connection = self._checkout(origin, left, reuse)
            try:
                answer = connection.exchange(target, headers, body, deadline)
            except StaleConnection:
                self._drop(connection)
                if not reuse:
                    raise
                continue  # the server had closed it while idle: once more, on a fresh one
            except BaseException:
                self._drop(connection)
                raise
            if answer.keep:
                self._checkin(origin, connection)
            else:
                self._drop(connection)
            return answer.status, answer.headers, answer.content
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Refuse new connections and end every open one, idle or in use."""
        with self._lock:
            self._closed.set()
            connections, self._open, self._idle = self._open, set(), {}
        for connection in connections:
            connection.abort()


def _readable(connections: list[_Connection]) -> set[_Connection]:
    """Idle connections with something to read: the other side closed them (or broke the
    protocol); either way they cannot carry a request."""
    if not connections:
        return set()
    poller = select.poll()  # not select(): descriptors above 1023 are fine
    by_fd = {}
    for connection in connections:
        with contextlib.suppress(OSError, ValueError):
            fd = connection.sock.fileno()
            poller.register(fd, select.POLLIN)
            by_fd[fd] = connection
    return {by_fd[fd] for fd, _ in poller.poll(0) if fd in by_fd}
