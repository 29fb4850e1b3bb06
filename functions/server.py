"""How a function is served: functions-framework's gunicorn (one arbiter, one gthread worker),
with the bounds it leaves open closed.

functions-framework runs gunicorn with no request-line limit (`limit_request_line: 0`) and
`CPU × 4` threads, each of which reads its request with blocking reads and no deadline: eight
clients that send a header line now and then held all eight threads of a 2-core machine, and
`/healthz` went unanswered for as long as they kept on. Here:

* every request must arrive whole (line, headers and body) within `ITER8_REQUEST_DEADLINE_SECONDS`
  (default 10) of its first byte, or its connection is closed: a slow client holds a thread for
  that long at most, and a probe queued behind it waits no longer;
* request line ≤ 8190 bytes, ≤ 100 header fields of ≤ 8190 bytes each, a body ≤ `MAX_BODY`
  (Flask answers 413 above it);
* the worker ends with its arbiter (a parent-death signal), so a killed function leaves no
  orphaned worker serving on its socket.

And each reply leaves as one TCP segment where it fits (`DeadlineThreadWorker.handle_request`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gunicorn.app.base
from gunicorn.workers.gthread import ThreadWorker

from functions.startup import without_what_no_event_uses
from iter8.embedded.lifeline import die_with_parent

if TYPE_CHECKING:
    from flask import Flask

DEADLINE_ENV = "ITER8_REQUEST_DEADLINE_SECONDS"
DEFAULT_DEADLINE = 10.0
MAX_BODY = 4 * 1024 * 1024  # an Experiment in a resource-mode `add` event is a few KiB
THREADS = 8
REHEARSE = "iter8.rehearse"  # the function's rehearsal of its first events, in app.extensions
LIMITS = {
    "limit_request_line": 8190,
    "limit_request_fields": 100,
    "limit_request_field_size": 8190,
}


def create_app(target: str, source: str) -> Flask:
    """The function's app, warmed before it serves (the module's `warm_up()` if it has one, and
    a probe), so that a first event costs what the next ones do.

    The collector is off while it loads: imports make ~150,000 objects that live as long as the
    process, and collecting as they grow was ~12% of the startup's CPU (~200 collections) for
    ~1,200 unreachable ones (kept: a full collection to find them costs more than they weigh).
    What is loaded is then frozen, out of later collections' sight. What no event uses is left
    out of the load (`functions.startup`)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        with without_what_no_event_uses():
            app = _load(target, source)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    return app


def _load(target: str, source: str) -> Flask:
    import functions_framework

    app = functions_framework.create_app(target, source, "http")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    # functions-framework loads the source as a module named after its file
    module = sys.modules.get(Path(source).stem)
    warm_up = getattr(module, "warm_up", None)
    if callable(warm_up):
        warm_up()
    rehearse = getattr(module, "rehearse", None)
    if callable(rehearse):
        app.extensions[REHEARSE] = rehearse  # for the worker, once it has opened its store
    # one probe through the whole app: Flask compiles its URL map and the function configures
    # its logging on their first request, which would otherwise be the first event's
    _probe(app, "/healthz")
    return app


def _probe(app: Flask, path: str) -> None:
    """GET `path` through the whole WSGI app, in this process. werkzeug's client, which Flask
    has loaded already; Flask's own test client would load `flask.testing` and with it click's
    runner and pdb (~5 ms of every start)."""
    from werkzeug.test import Client

    Client(app).get(path).close()


class DeadlineSocket:
    """A connected socket whose reads share one deadline per request; everything else is the
    socket's own. A read past the deadline is an end of stream: gunicorn closes the connection
    as if the client had gone."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self._sock, self._seconds = sock, seconds
        self._deadline: float | None = None

    def next_request(self) -> None:
        self._deadline = None  # starts at the request's first read

    def recv(self, size: int, flags: int = 0) -> bytes:
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self._seconds
        left = self._deadline - now
        if left <= 0:
            return b""
        self._sock.settimeout(left)
        try:
            return self._sock.recv(size, flags)
        except TimeoutError:
            return b""
        finally:
            self._sock.settimeout(None)  # writes (the reply) are not bounded by the read deadline

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class DeadlineThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, reading each request against a deadline (`DeadlineSocket`)."""

    def handle(self, conn: Any) -> Any:
        if not isinstance(conn.sock, DeadlineSocket):
            conn.sock = DeadlineSocket(conn.sock, request_deadline())
        conn.sock.next_request()
        return super().handle(conn)

    def handle_request(self, req: Any, conn: Any) -> Any:
        """The reply corked (TCP_CORK, Linux) until it is written whole: gunicorn sends its head
        and its body apart, two segments on a TCP_NODELAY socket, and the client woke for each
        (~0.3 ms of wall time per event, measured). Not when the client waits for `100 Continue`,
        which gunicorn sends before the app runs: corked, it would be held (up to 200 ms)."""
        cork = _TCP_CORK is not None and not any(name == "EXPECT" for name, _ in req.headers)
        if cork:
            _set_cork(conn.sock, 1)
        try:
            return super().handle_request(req, conn)
        finally:
            if cork:
                _set_cork(conn.sock, 0)  # sends what is held


_TCP_CORK: int | None = getattr(socket, "TCP_CORK", None)


def _set_cork(sock: Any, value: int) -> None:
    with contextlib.suppress(OSError):  # the client has gone; gunicorn closes the connection
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, value)


def request_deadline() -> float:
    return float(os.environ.get(DEADLINE_ENV) or DEFAULT_DEADLINE)


def _worker_dies_with_arbiter(_arbiter: Any, worker: Any) -> None:
    die_with_parent(signal.SIGKILL, parent=worker.ppid)


def _worker_opens_its_store(worker: Any) -> None:
    """The worker, its app loaded, asks itself `/readyz` before it serves: the store is opened
    now rather than on the first event; a store that cannot be opened is logged here and
    answered 503 on `/readyz`, as before. Then the function's `rehearse()`, if it has one (the
    collector on: what a rehearsal leaves behind is garbage)."""
    _probe(worker.wsgi, "/readyz")
    rehearse = worker.wsgi.extensions.get(REHEARSE)
    if rehearse is not None:
        rehearse()


class FunctionServer(gunicorn.app.base.BaseApplication):  # type: ignore[misc]
    """gunicorn serving the function `target` of `source`, which the worker loads (`load`) once
    forked: the arbiter imports neither Flask nor the function (nor numpy, nor scipy), and the
    worker shares none of the app's pages with it, so pays for no copies of them (loaded before
    the fork, the first event took ~2x the CPU of the next unless the worker rehearsed after
    the fork)."""

    def __init__(self, target: str, source: str, bind: str) -> None:
        self.target, self.source = target, source
        self.options = {
            "bind": bind,
            "workers": 1,
            "threads": THREADS,
            "worker_class": f"{__name__}.DeadlineThreadWorker",
            "timeout": 30,  # a worker whose main loop stops beating is replaced
            "graceful_timeout": 5,
            "keepalive": 5,
            "sendfile": False,
            # gunicorn's control socket (25.1+) is for `gunicornc`: a thread with an asyncio
            # loop in the arbiter, on one path per user that every function's arbiter would take
            "control_socket_disable": True,
            "loglevel": os.environ.get("GUNICORN_LOG_LEVEL", "error"),
            "post_fork": _worker_dies_with_arbiter,
            "post_worker_init": _worker_opens_its_store,
            **LIMITS,
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self.target, self.source)
