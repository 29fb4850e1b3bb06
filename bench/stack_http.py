"""One iteration through the real embedded stack, hop by hop.

`EmbeddedStack` as `iter8 run` starts it (broker from eventing/config, the four functions as
functions-framework processes, sinks), except that the PingSource is set to tick once an hour:
the bench sends each tick itself, a `dev.knative.sources.ping` POSTed to the broker's ingress
when exactly one experiment is due. The broker is synchronous (the MT channel broker's
semantics), so that POST returns when the whole chain is done:

    ping → analyze (tick) ─POST iteration.due→ broker → analyze → analysis.completed → broker
         → route → weights.applied → broker → notifier

The broker runs in this process; its sender and ingest are wrapped to time each hop:

* tick: the ping's delivery to analyze minus the iteration.due POST it made (list, plan, POST);
* analyze: the iteration.due delivery (the function's HTTP round trip: parse, read, claim,
  mock fetch, algorithm, write, reply);
* route: the analysis.completed delivery; notify: the weights.applied delivery to the sink;
* broker: the rest (ingress, matching, re-entry of replies, our own POST of the ping).

One experiment by default (a sample a second): with several, two whose iterations fall due in
the same 100 ms are run by one tick side by side and stay in step from then on. A sample where
anything but exactly one iteration ran is discarded (and counted).
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import stack_objects as objects
from iter8.api.experiment import Experiment
from iter8.embedded.stack import EmbeddedStack, StackOptions
from iter8.events import EventType
from iter8.lifecycle.schedule import EARLY_TOLERANCE, next_due
from iter8.store import EXPERIMENTS
from iter8.store.sqlite import SqliteStore

HOPS = ("tick", "analyze", "route", "notify", "broker")
SHORT = {
    str(EventType.PING): "ping",
    str(EventType.ITERATION_DUE): "due",
    str(EventType.ANALYSIS_COMPLETED): "completed",
    str(EventType.WEIGHTS_APPLIED): "applied",
}


@dataclass
class HttpResult:
    algorithm: str
    experiments: int
    total: list[float] = field(default_factory=list)  # the ping's POST, seconds
    hops: dict[str, list[float]] = field(default_factory=lambda: {h: [] for h in HOPS})
    discarded: int = 0


class HopTimer:
    """Wraps the in-process broker's sender and ingest to time every delivery and publication."""

    def __init__(self, stack: EmbeddedStack) -> None:
        assert stack.broker is not None
        engine = stack.broker.engine
        self.posts: list[tuple[str, float]] = []  # (event type, seconds) per delivery
        self.ingests: list[tuple[str, float]] = []  # (event type, seconds) per ingress call
        self._lock = threading.Lock()
        sender = engine._sender
        post, ingest = sender.post, engine.ingest

        def timed_post(
            url: str, headers: list[tuple[str, str]], body: bytes, timeout: float | None
        ) -> tuple[int, dict[str, str], bytes]:
            kind = next((v for k, v in headers if k.lower() == "ce-type"), "?")
            started = time.perf_counter()
            try:
                return post(url, headers, body, timeout)
            finally:
                self._add(self.posts, kind, time.perf_counter() - started)

        def timed_ingest(key: Any, event: Any, passthrough: Any) -> int:
            started = time.perf_counter()
            try:
                return ingest(key, event, passthrough)
            finally:
                self._add(self.ingests, str(event.type), time.perf_counter() - started)

        sender.post = timed_post  # type: ignore[method-assign]
        engine.ingest = timed_ingest  # type: ignore[method-assign]

    def _add(self, into: list[tuple[str, float]], kind: str, seconds: float) -> None:
        with self._lock:
            into.append((SHORT.get(kind, kind), seconds))

    def take(self) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        with self._lock:
            posts, ingests = list(self.posts), list(self.ingests)
            self.posts.clear()
            self.ingests.clear()
        return posts, ingests


def measure(
    samples: int,
    experiments: int = 1,
    algorithm: str = objects.ALGORITHM,
    directory: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> HttpResult:
    """`samples` iterations, each started by one ping, through the whole stack."""
    directory = directory or Path(tempfile.mkdtemp(prefix="iter8-bench-http-"))
    path = directory / "store.db"
    store = SqliteStore(path)
    objects.create_targets(store, experiments)
    options = StackOptions(
        store=f"sqlite:{path}", tick=timedelta(hours=1), seed=1, log_dir=directory / "logs"
    )
    result = HttpResult(algorithm, experiments)
    per_experiment = samples + 3  # so none concludes during the bench, discards included
    with EmbeddedStack(store, options) as stack, httpx.Client(timeout=60) as client:
        timer = HopTimer(stack)
        for name in objects.names(experiments):  # spaced, so their iterations take turns
            store.create(
                EXPERIMENTS, objects.canary(name, objects.app_of(name), per_experiment, algorithm)
            )
            time.sleep(1.0 / experiments)
        _wait_running(store, experiments)
        timer.take()
        while len(result.total) < samples:
            dues = _dues(store)
            if not dues:
                states = [
                    f"{e.metadata.name}: {e.status.stage} after {e.status.completed_iterations} "
                    f"({e.status.message})"
                    for e in _experiments(store)
                    if e.status
                ]
                raise RuntimeError(f"no experiment left to iterate: {'; '.join(states)}")
            # A tick counts an iteration due up to EARLY_TOLERANCE early: ping as early as that
            # allows, so that the next experiment in turn is not yet due.
            wait = (min(dues) - EARLY_TOLERANCE - datetime.now(UTC)).total_seconds()
            time.sleep(max(0.0, wait + 0.01))
            before = _completed(store)
            started = time.perf_counter()
            response = client.post(stack.sink, headers=_ping_headers(), content=b"")
            total = time.perf_counter() - started
            response.raise_for_status()
            posts, ingests = timer.take()
            if _completed(store) - before != 1 or not _one_chain(posts, ingests):
                result.discarded += 1
                if result.discarded > samples + 10:
                    raise RuntimeError(f"{result.discarded} ticks ran other than one iteration")
                continue
            _record(result, total, posts, ingests)
            if progress is not None:
                progress(len(result.total))
    store.close()
    return result


def _record(
    result: HttpResult,
    total: float,
    posts: list[tuple[str, float]],
    ingests: list[tuple[str, float]],
) -> None:
    post = dict(posts)
    due = dict(ingests)["due"]
    hops = {
        "tick": post["ping"] - due,
        "analyze": post["due"],
        "route": post["completed"],
        "notify": post["applied"],
    }
    hops["broker"] = total - sum(hops.values())
    result.total.append(total)
    for hop, seconds in hops.items():
        result.hops[hop].append(seconds)


def _one_chain(posts: list[tuple[str, float]], ingests: list[tuple[str, float]]) -> bool:
    """Exactly one tick, one iteration, one notification: nothing else ran meanwhile."""
    return sorted(k for k, _ in posts) == ["applied", "completed", "due", "ping"] and sorted(
        k for k, _ in ingests
    ) == ["due", "ping"]


def _ping_headers() -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-type": str(EventType.PING),
        "ce-source": "/apis/v1/namespaces/iter8-system/pingsources/bench",
        "ce-time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


def _experiments(store: SqliteStore) -> list[Experiment]:
    return [Experiment.from_wire(item) for item in store.list(EXPERIMENTS)[0]]


def _dues(store: SqliteStore) -> list[datetime]:
    return [due for e in _experiments(store) if (due := next_due(e)) is not None]


def _completed(store: SqliteStore) -> int:
    return sum((e.status.completed_iterations or 0) if e.status else 0 for e in _experiments(store))


def _wait_running(store: SqliteStore, experiments: int, timeout: float = 60) -> None:
    """Until every experiment has run its first iteration (which follows init at once)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [
            e for e in _experiments(store) if e.status and (e.status.completed_iterations or 0) >= 1
        ]
        if len(done) == experiments:
            return
        time.sleep(0.05)
    raise TimeoutError(f"the experiments did not start within {timeout:g}s")
