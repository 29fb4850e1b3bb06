"""A scriptable HTTP backend on 127.0.0.1 (stdlib `http.server` in a thread) for provider tests.

Each route answers with a fixed status, body and optional delay, or with a function of the
request; every request is recorded, so tests check what a provider actually sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def param(self, name: str) -> str:
        (value,) = self.params[name]
        return value


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: str | bytes = "{}"
    delay: float = 0.0
    content_type: str = "application/json"
    declare_length: bool = True  # False: no Content-Length, the body ends when the connection does


Route = Answer | Callable[[Seen, int], Answer]  # a function gets the request and its number


@dataclass
class Backend:
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Backend:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                backend._answer(self)

            def do_POST(self) -> None:
                backend._answer(self)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes up delayed answers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        seen = Seen(
            method=handler.command,
            path=parts.path,
            params=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=handler.rfile.read(length),
        )
        with self._lock:
            self.seen.append(seen)
            number = self._counts.get(parts.path, 0)
            self._counts[parts.path] = number + 1
        route = self.routes.get(parts.path, Answer(404, '{"error": "no such route"}'))
        answer = route(seen, number) if callable(route) else route
        if answer.delay and self._stopping.wait(answer.delay):
            return
        body = answer.body.encode() if isinstance(answer.body, str) else answer.body
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            if answer.declare_length:
                handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)
