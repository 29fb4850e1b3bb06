"""A function's first event, rehearsed before it serves.

Importing the code an event needs is not all of a first event's extra cost: pydantic's
validators, numpy's generators, the algorithm, the store's statements and the CloudEvents codec
each pay for their first use (a first `iteration.due` took ~2x the CPU of the next ones). So the
server runs one small experiment through init, analyze and route, in this process, on a scratch
store in a temporary directory that is removed after: nothing is sent, and nothing is written
where anyone reads. The directory is in memory where there is one (`/dev/shm`, a tmpfs on Linux
and in containers): the scratch store's syncs (8 `fdatasync`s, 2-4 ms each on this machine's
disk, ~25 ms of every cold start) then cost nothing.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http

from iter8.events import EventType

NAMESPACE = "warm-up"
IN_MEMORY = Path("/dev/shm")
ALGORITHMS = ("bayesian", "iter8-v2")


log = logging.getLogger("iter8.functions.warmup")
Handler = Callable[[CloudEvent, Any], CloudEvent | None]


def rehearse(analyze: Handler) -> None:
    """Two iterations of one experiment per algorithm through init, `analyze` (the served
    module's handler) and route, on a scratch store. A failure is logged and the server serves
    anyway: only its first event is slower."""
    try:
        _rehearse(analyze)
    except Exception:
        log.exception("the warm-up failed; serving anyway")


def _rehearse(analyze: Handler) -> None:
    from functions.init import main as init
    from functions.route import main as route
    from functions.runtime import Runtime
    from iter8.demo.experiment import knative_service, mock_canary, mock_metric
    from iter8.store import EXPERIMENTS, METRICS
    from iter8.store.resources import KNATIVE_SERVICES
    from iter8.store.sqlite import SqliteStore

    clock = [datetime.now(UTC)]
    with tempfile.TemporaryDirectory(prefix="iter8-warm-up-", dir=scratch_parent()) as directory:
        store = SqliteStore(Path(directory) / "warm-up.db")
        try:
            runtime = Runtime(store=store, now=lambda: clock[0], seed=0)
            store.create(METRICS, mock_metric(namespace=NAMESPACE))
            for algorithm in ALGORITHMS:  # one Service and one experiment each, named after it
                store.create(KNATIVE_SERVICES, knative_service(algorithm, NAMESPACE))
                store.create(
                    EXPERIMENTS, mock_canary(algorithm, algorithm, 3, algorithm, NAMESPACE)
                )
                reply = init.handle(_codec(_added(algorithm)), runtime)
                for _ in range(2):
                    reply = reply and analyze(_codec(reply), runtime)
                    reply = reply and route.handle(_codec(reply), runtime)
                    clock[0] += timedelta(seconds=2)
                    if reply is not None:  # weights applied: the tick's next event
                        reply = _next_due(reply)
        finally:
            store.close()


def scratch_parent() -> Path | None:
    """Where the scratch store goes: in memory if this system has a writable `/dev/shm`, else
    in the temporary directory (None)."""
    in_memory = IN_MEMORY.is_dir() and os.access(IN_MEMORY, os.W_OK | os.X_OK)
    return IN_MEMORY if in_memory else None


def _next_due(applied: CloudEvent) -> CloudEvent:
    iteration = int(applied["iteration"]) + 1
    attributes = {**applied.get_attributes(), "type": str(EventType.ITERATION_DUE)}
    attributes["iteration"] = iteration
    return CloudEvent(attributes, {**applied.data, "iteration": iteration})


def _codec(event: CloudEvent) -> CloudEvent:
    """The event as it travels: encoded and parsed again (the codec's first use, too)."""
    headers, body = to_binary(event)
    return from_http({key: str(value) for key, value in headers.items()}, body)


def _added(name: str) -> CloudEvent:
    return CloudEvent(
        {
            "type": str(EventType.REF_ADD),
            "source": "/iter8/warm-up",
            "subject": f"/apis/iter8.tools/v2alpha2/namespaces/{NAMESPACE}/experiments/{name}",
            "kind": "Experiment",
        },
        {
            "kind": "Experiment",
            "apiVersion": "iter8.tools/v2alpha2",
            "namespace": NAMESPACE,
            "name": name,
        },
    )
