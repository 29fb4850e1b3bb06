"""The ingress's HTTP server: the standard library's `ThreadingHTTPServer`, HTTP/1.1 keep-alive.

Chosen over uvicorn (measured on this machine: ~60 µs of CPU per request against ~225 µs for
uvicorn with h11 plus the hop to a thread pool) and over Werkzeug's threaded server (which closes
every connection). A synchronous fan-out blocks for as long as its reply chains run, and here it
simply blocks its connection's thread. What `http.server` lacks for a broker is added: any method
reaches the ingress rules (Knative answers 405, not 501), chunked request bodies are read, headers
are read by hand (the standard parser is `email`'s, ~30 µs a request), and the bounds of
`limits`: a whole-request deadline (not a per-read timeout, which a client sending a byte a second
never meets), an idle timeout, the head (1 MiB → 431; a line 64 KiB, 100 headers, as
`http.client`) and the body (→ 413), and a cap on connections served at once (more wait in the
listen backlog, as Go's `netutil.LimitListener` makes them wait). Stopping is in two steps, as Go's
`Server.Shutdown`: `stop_accepting()` closes the listener and idle connections, then `stop()`,
after the drain, ends the rest. A client that hangs up before its answer is one log line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eventing.broker.ingress import BadRequest, BodyTooLarge, Ingress, RequestTimeout
from eventing.broker.limits import MAX_HEAD, Limits
from eventing.broker.wire import header_map

log = logging.getLogger(__name__)

_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
# A header line: a token (RFC 9110) for a name, and a value without what Go's server refuses in one
# (control characters but tab), surrounding whitespace left out.
_FIELD = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_PIECE = 1 << 20
_MAX_LINE, _MAX_HEADERS = 65536, 100  # as `http.client` limits a header block
_SLOT_WAIT = 0.05  # seconds between looks at `stopped` while every connection slot is taken
_LINGER = 0.5  # seconds to discard what a refused client still sends (Go's rstAvoidanceDelay)


class IngressServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], ingress: Ingress, limits: Limits) -> None:
        self.ingress, self.limits = ingress, limits
        self.stopped = False
        self._connections: set[socket.socket] = set()
        self._idle: set[socket.socket] = set()  # waiting for their next request
        self._slots = threading.Semaphore(limits.max_connections)
        self._lock = threading.Lock()
        self._closed = threading.Condition(self._lock)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        while not self._slots.acquire(timeout=_SLOT_WAIT):  # at the cap: accept nothing more
            if self.stopped:
                super().shutdown_request(request)
                return
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            counted = request in self._connections
            self._connections.discard(request)
            self._idle.discard(request)
            if not self._connections:
                self._closed.notify_all()
        if counted:
            self._slots.release()
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the client went away, or its socket broke
            log.info("ingress: client %s:%s went away: %r", *client_address[:2], error)
        else:
            log.exception("ingress: connection from %s:%s failed", *client_address[:2])

    def waiting(self, connection: socket.socket, idle: bool) -> bool:
        """Mark a connection idle (between requests) or busy; False once stopping."""
        with self._lock:
            if idle:
                self._idle.add(connection)
            else:
                self._idle.discard(connection)
            return not self.stopped

    def stop_accepting(self) -> None:
        """Close the listener and every idle connection; requests under way go on."""
        with self._lock:
            self.stopped = True
            idle = list(self._idle)
        self.shutdown()
        self.server_close()
        _end(idle)

    def wait_closed(self, timeout: float) -> bool:
        """After `stop_accepting`: wait for the requests under way to be answered (each
        connection then ends); False if some are still open after `timeout` seconds."""
        with self._closed:
            return self._closed.wait_for(lambda: not self._connections, timeout)

    def stop(self) -> None:
        """Stop accepting (if not done yet), then end every open connection."""
        if not self.stopped:
            self.stop_accepting()
        with self._lock:
            connections = list(self._connections)
        _end(connections)


def _end(connections: list[socket.socket]) -> None:
    for connection in connections:
        with contextlib.suppress(OSError):  # already closed by its client
            connection.shutdown(socket.SHUT_RDWR)


def _linger(connection: socket.socket) -> None:
    """Half-close, then discard what the client still sends for a moment: closing with its data
    unread would reset the connection, and the client would lose the answer (Go's
    `closeWriteAndWait`)."""
    with contextlib.suppress(OSError):  # TimeoutError included
        connection.shutdown(socket.SHUT_WR)
        end = time.monotonic() + _LINGER
        while (left := end - time.monotonic()) > 0:
            connection.settimeout(left)
            if not connection.recv(65536):
                break


class _DeadlineReader(io.RawIOBase):
    """A connection's reads, each allowed only what is left of the request's deadline."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request's deadline has passed")
            self.connection.settimeout(left)
        return self.connection.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: IngressServer
    headers: dict[str, str]  # lower-case names (`wire.header_map`), UTF-8 with surrogateescape

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # replaced by a reader that keeps the request's deadline
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)
        self._unread_input = False

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self._unread_input = True  # refused in the middle of the request
        super().send_error(code, message, explain)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._unread_input:
                _linger(self.connection)

    def handle_one_request(self) -> None:
        """Wait (up to the idle timeout) for a request's first byte, then read it all within
        the request's deadline."""
        self.close_connection = True
        self._reader.deadline = None
        self.connection.settimeout(self.server.limits.idle_seconds)
        if not self.server.waiting(self.connection, idle=True):
            return
        try:
            arrived = self.rfile.peek(1)
        except (TimeoutError, ConnectionError):
            return
        finally:
            serving = self.server.waiting(self.connection, idle=False)
        if not arrived or not serving:
            return
        self._reader.deadline = time.monotonic() + self.server.limits.request_seconds
        self._head_left = MAX_HEAD  # the request line and headers; then the chunks' framing
        super().handle_one_request()

    def parse_request(self) -> bool:
        """`http.server`'s rules for the request line, keep-alive and `Expect: 100-continue`,
        with headers read by hand: its email-based parser cost ~30 µs of every event."""
        self.command, self.close_connection = None, True
        # Errors in the request line are answered with an HTTP/1.1 status line, as Go's server
        # answers them (`http.server` would write HTTP/0.9: a bare HTML body).
        self.request_version = "HTTP/1.1"
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self._head_left -= len(self.raw_requestline)
        words = self.requestline.split()
        if len(words) == 3:
            version = words[2]
            number = version.removeprefix("HTTP/").split(".")
            if (
                not version.startswith("HTTP/")
                or len(number) != 2
                or not all(part.isdigit() and len(part) <= 10 for part in number)
            ):
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
                return False
            if (int(number[0]), int(number[1])) >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "Invalid HTTP version")
                return False
            self.close_connection = (int(number[0]), int(number[1])) < (1, 1)
            self.request_version = version
        elif len(words) != 2 or words[0] != "GET":  # HTTP/0.9 knew only GET
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({self.requestline!r})")
            return False
        else:
            self.request_version = self.default_request_version
        self.command, self.path = words[0], words[1]
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")
        pairs = self._read_headers()
        if pairs is None:
            return False
        self.headers = header_map(pairs)
        connection = self.headers.get("connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        expect = self.headers.get("expect", "").lower()
        if expect == "100-continue" and self.request_version >= "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def _read_headers(self) -> list[tuple[str, str]] | None:
        """Header lines up to the blank one (folded lines joined), or None after a 4xx."""
        pairs: list[tuple[str, str]] = []
        while True:
            line = self.rfile.readline(_MAX_LINE + 1)
            self._head_left -= len(line)
            if len(line) > _MAX_LINE or self._head_left < 0:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Head too large")
                return None
            if line in (b"\r\n", b"\n", b""):
                return pairs
            # UTF-8 where it is, the other bytes kept as they came (surrogateescape): written
            # back the same way, every value is carried byte for byte, as Go carries it.
            text = line.decode("utf-8", "surrogateescape").rstrip("\r\n")
            if text[:1] in (" ", "\t") and pairs and not _CONTROL.search(text):  # folded
                name, value = pairs[-1]
                pairs[-1] = (name, f"{value} {text.strip()}")
                continue
            field = _FIELD.fullmatch(text)
            if field is None:  # Go: 400 "invalid header name" or "invalid header value"
                self.send_error(HTTPStatus.BAD_REQUEST, "Malformed header line")
                return None
            pairs.append(field.group(1, 2))
            if len(pairs) > _MAX_HEADERS:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
                return None

    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):  # every method goes to the ingress rules
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        self._body_read = self._body_failed = False
        status, extra = self.server.ingress.handle(
            self.command, self._request_uri(), self.headers, self._read_body
        )
        unread = not self._body_read and self._has_body()
        if unread or self._body_failed or self.server.stopped:
            self.close_connection = True  # an unread body would be taken for the next request
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _request_uri(self) -> str:
        """The target as sent: `http.server` rewrites a leading `//` in `path`, Go does not."""
        words = self.requestline.split()
        return words[1] if len(words) >= 2 else self.path

    def _has_body(self) -> bool:
        length = self.headers.get("content-length", "0").strip()
        return "transfer-encoding" in self.headers or length not in ("", "0")

    def _read_body(self) -> bytes:
        """The whole body within the request's deadline and the body limit; raises BadRequest."""
        self._body_read = True
        try:
            return self._read_framed_body()
        except TimeoutError as error:
            self._body_failed = self._unread_input = True
            raise RequestTimeout(str(error)) from error
        except BadRequest:
            self._body_failed = self._unread_input = True
            raise

    def _read_framed_body(self) -> bytes:
        encoding = self.headers.get("transfer-encoding")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise BadRequest(f"unsupported Transfer-Encoding {encoding!r}")
            return self._read_chunked()
        length = self.headers.get("content-length", "0").strip() or "0"
        if not length.isdigit():
            raise BadRequest(f"bad Content-Length {length!r}")
        if int(length) > self.server.limits.max_body:
            raise BodyTooLarge(f"Content-Length {length} is over {self.server.limits.max_body}")
        return self._read_exactly(int(length))

    def _read_exactly(self, size: int) -> bytes:
        pieces, remaining = [], size
        while remaining > 0:
            piece = self.rfile.read(min(remaining, _PIECE))
            if not piece:
                raise BadRequest("the body ended before its length")
            pieces.append(piece)
            remaining -= len(piece)
        return b"".join(pieces)

    def _framing_line(self) -> bytes:
        line = self.rfile.readline(_MAX_LINE + 1)
        self._head_left -= len(line)
        if self._head_left < 0:
            raise BodyTooLarge("the chunks' framing is too large")
        return line

    def _read_chunked(self) -> bytes:
        pieces, total = [], 0
        while True:
            line = self._framing_line()
            size = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size):
                raise BadRequest("malformed chunk")
            if int(size, 16) == 0:
                break
            total += int(size, 16)
            if total > self.server.limits.max_body:
                raise BodyTooLarge(f"the chunked body is over {self.server.limits.max_body}")
            pieces.append(self._read_exactly(int(size, 16)))
            if self.rfile.readline(3).strip():
                raise BadRequest("malformed chunk end")
        while self._framing_line().strip():  # trailers
            pass
        return b"".join(pieces)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)
