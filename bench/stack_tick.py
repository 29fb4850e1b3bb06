"""The tick's own cost: the CPU of analyze's tick handler (list, parse, plan) with many experiments
in the store, none of them due, so nothing is POSTed and what is left is the cost of looking.

The experiments are driven in-process (init, then analyze and route, or promote, on a SqliteStore
with a fake clock) to `iterations` iterations; in the `half completed` store half of them end
there. Each tick is timed twice: with nothing written since the last tick, and with every
experiment written since (an annotation on each, not timed), as after a burst of iterations.
CPU of this thread, the garbage collector's passes included (they are part of the tick's cost:
parsing allocates), after a `gc.freeze()` of what the setup left, as the function server does.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cloudevents.http import CloudEvent

from bench import stack_objects as objects
from bench.stack_inprocess import CapturingSink, Clock, add_event, ping
from functions.analyze import main as analyze
from functions.init import main as init
from functions.promote import main as promote
from functions.route import main as route
from functions.runtime import Runtime
from iter8.events import EventType
from iter8.store import EXPERIMENTS
from iter8.store.sqlite import SqliteStore

MS = 1000.0


@dataclass
class TickCost:
    store: str  # what the store holds
    experiments: int
    completed: int
    unchanged_ms: list[float]  # CPU per tick, nothing written since the last one
    changed_ms: list[float]  # CPU per tick, every experiment written since the last one

    def figures(self) -> dict[str, object]:
        return {
            "store": self.store,
            "experiments": self.experiments,
            "completed": self.completed,
            "unchanged_cpu_ms": _summary(self.unchanged_ms),
            "changed_cpu_ms": _summary(self.changed_ms),
        }


def _summary(values: list[float]) -> dict[str, float]:
    """The mean is the cost per tick over time (the garbage collector's passes land on some
    ticks, tens of ms each); the median is a typical tick."""
    return {"mean": statistics.fmean(values), "p50": statistics.median(values), "n": len(values)}


def measure(
    experiments: int, iterations: int, algorithm: str, *, completed: int, ticks: int = 10
) -> TickCost:
    """`experiments` driven to `iterations` iterations, the first `completed` of them to their
    end; then `ticks` ticks of each kind, timed in CPU of this thread."""
    directory = Path(tempfile.mkdtemp(prefix="iter8-bench-tick-"))
    store = SqliteStore(directory / "store.db")
    sink, clock = CapturingSink(), Clock()
    runtime = Runtime(store=store, sink=sink.url, now=clock, seed=7)
    try:
        objects.create_targets(store, experiments)
        names = objects.names(experiments)
        for index, name in enumerate(names):
            ends = iterations if index < completed else iterations + 10
            store.create(EXPERIMENTS, objects.canary(name, objects.app_of(name), ends, algorithm))
        for name in names:
            _chain(runtime, init.handle(add_event(name), runtime))
        for _ in range(iterations - 1):
            clock.now += timedelta(seconds=1)
            analyze.handle(ping(), runtime)
            for event in sink.take():
                _chain(runtime, event)
        done = sum(
            1 for item in store.list(EXPERIMENTS)[0] if item["status"].get("stage") == "Completed"
        )
        clock.now += timedelta(seconds=0.5)  # the next iterations are due in half a second
        unchanged, changed = [], []
        analyze.handle(ping(), runtime)  # what the last iterations wrote, seen once
        gc.collect()
        gc.freeze()  # as `functions.server` does with what it loaded: collections scan the rest
        for tick in range(ticks):
            unchanged.append(_tick_cpu(runtime))
            for name in names:  # every experiment written by someone since the last tick
                notes = {"metadata": {"annotations": {"bench.iter8.tools/touched": str(tick)}}}
                store.patch(EXPERIMENTS, objects.NAMESPACE, name, notes)
            changed.append(_tick_cpu(runtime))
        if sink.take():
            raise RuntimeError("the tick posted events: the experiments were meant not to be due")
    finally:
        gc.unfreeze()
        sink.close()
        store.close()
    label = f"{experiments} {algorithm}, {done} completed"
    return TickCost(label, experiments, done, unchanged, changed)


def _tick_cpu(runtime: Runtime) -> float:
    started = time.thread_time()
    analyze.handle(ping(), runtime)
    return (time.thread_time() - started) * MS


def _chain(runtime: Runtime, event: CloudEvent | None) -> None:
    """Deliver an event and its replies until the chain ends (weights applied or promoted)."""
    handlers: dict[str, Callable[[CloudEvent, Runtime], CloudEvent | None]] = {
        EventType.INITIALIZED: analyze.handle,
        EventType.ITERATION_DUE: analyze.handle,
        EventType.ANALYSIS_COMPLETED: route.handle,
        EventType.CONCLUDED: promote.handle,
    }
    while event is not None and event["type"] in handlers:
        event = handlers[event["type"]](event, runtime)
