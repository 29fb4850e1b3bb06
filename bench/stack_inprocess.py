"""One iteration's overhead in-process: the handlers called directly on a SqliteStore.

Per iteration, as the stack runs it but without the broker or the function processes: the
analyze function's tick handler on a `dev.knative.sources.ping` (it lists the experiments, plans,
and POSTs one `iteration.due`, here to a local capturing sink), then analyze on that event, then
route on the `analysis.completed` reply. The clock is fake (one second per iteration), metrics are
`mock` levels, and the time spent inside `fetch_all` is measured and subtracted, so what is left
is our own code: decoding, store reads and writes, the algorithm, the routers.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cloudevents.http import CloudEvent, from_http

from bench import stack_objects as objects
from functions.analyze import main as analyze
from functions.init import main as init
from functions.route import main as route
from functions.runtime import Runtime
from iter8.demo.experiment import knative_service
from iter8.events import EventType
from iter8.store import EXPERIMENTS
from iter8.store.resources import KNATIVE_SERVICES
from iter8.store.sqlite import SqliteStore

PARTS = ("tick", "analyze", "route", "fetch")


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class InProcessResult:
    """Seconds per iteration for each part; `overhead` is tick + analyze + route − fetch."""

    algorithm: str
    background: int  # other experiments in the store (listed by every tick, never due)
    parts: dict[str, list[float]]
    overhead: list[float]


class CapturingSink:
    """A local HTTP endpoint standing in for the broker's ingress: 202, and keep the event."""

    def __init__(self) -> None:
        events: list[CloudEvent] = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                event = from_http(dict(self.headers), body)
                with lock:
                    events.append(event)
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.events, self._lock = events, lock
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/iter8-system/iter8"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def take(self) -> list[CloudEvent]:
        with self._lock:
            taken, self.events[:] = list(self.events), []
        return taken

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def timed_fetch(spent: list[float]) -> Iterator[None]:
    """Record the seconds each call of analyze's `fetch_all` takes (to subtract them)."""
    original: Callable[..., Any] = getattr(analyze, "fetch_all")  # noqa: B009 - patched below

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    setattr(analyze, "fetch_all", wrapper)  # noqa: B010 - the name analyze calls
    try:
        yield
    finally:
        setattr(analyze, "fetch_all", original)  # noqa: B010


def ping() -> CloudEvent:
    return CloudEvent(
        {"type": str(EventType.PING), "source": "/apis/v1/namespaces/iter8-system/pingsources/b"},
        None,
    )


def add_event(name: str) -> CloudEvent:
    return CloudEvent(
        {
            "type": str(EventType.REF_ADD),
            "source": "bench",
            "subject": f"/apis/iter8.tools/v2alpha2/namespaces/{objects.NAMESPACE}/experiments/{name}",
            "kind": "Experiment",
        },
        {
            "kind": "Experiment",
            "apiVersion": "iter8.tools/v2alpha2",
            "namespace": objects.NAMESPACE,
            "name": name,
        },
    )


def measure(
    iterations: int,
    algorithm: str = objects.ALGORITHM,
    background: int = 0,
    directory: Path | None = None,
) -> InProcessResult:
    """Run `iterations` iterations of one experiment; `background` more experiments sit in the
    store (created, never initialised, so never due) for the tick to list."""
    directory = directory or Path(tempfile.mkdtemp(prefix="iter8-bench-inproc-"))
    store = SqliteStore(directory / "store.db")
    sink = CapturingSink()
    clock = Clock()
    runtime = Runtime(store=store, sink=sink.url, now=clock, seed=7)
    parts: dict[str, list[float]] = {part: [] for part in PARTS}
    overhead: list[float] = []
    try:
        name = "bench"
        store.create(KNATIVE_SERVICES, knative_service("app", objects.NAMESPACE))
        objects.create_targets(store, 0)
        store.create(EXPERIMENTS, objects.canary(name, "app", iterations + 2, algorithm))
        for other in range(background):
            body = objects.canary(f"idle-{other}", f"idle-{other}", 10, algorithm)
            store.create(EXPERIMENTS, body)
        # Initialised a second before, with the first iteration done: every later one is ticked.
        first = init.handle(add_event(name), runtime)
        assert first is not None and first["type"] == EventType.INITIALIZED, first
        _iterate(runtime, first)
        with timed_fetch(parts["fetch"]):
            for _ in range(iterations):
                clock.now += timedelta(seconds=1)
                before = len(parts["fetch"])
                started = time.perf_counter()
                analyze.handle(ping(), runtime)
                due = sink.take()
                parts["tick"].append(time.perf_counter() - started)
                if len(due) != 1 or due[0]["type"] != EventType.ITERATION_DUE:
                    raise RuntimeError(f"the tick posted {[e['type'] for e in due]}")
                analyzed, routed = _iterate(runtime, due[0])
                parts["analyze"].append(analyzed)
                parts["route"].append(routed)
                fetched = sum(parts["fetch"][before:])
                overhead.append(parts["tick"][-1] + analyzed + routed - fetched)
    finally:
        sink.close()
        store.close()
    return InProcessResult(algorithm, background, parts, overhead)


def _iterate(runtime: Runtime, event: CloudEvent) -> tuple[float, float]:
    """analyze, then route on its reply; the seconds each took."""
    started = time.perf_counter()
    reply = analyze.handle(event, runtime)
    analyzed = time.perf_counter() - started
    if reply is None or reply["type"] != EventType.ANALYSIS_COMPLETED:
        raise RuntimeError(f"analyze replied {reply and reply['type']}")
    started = time.perf_counter()
    applied = route.handle(reply, runtime)
    routed = time.perf_counter() - started
    if applied is None or applied["type"] != EventType.WEIGHTS_APPLIED:
        raise RuntimeError(f"route replied {applied and applied['type']}")
    return analyzed, routed
