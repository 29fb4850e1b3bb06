"""Experiments run for real for the report tests: the four handlers in-process on a SQLite store
with mock metrics (`tests.functions.harness`), fast enough for every test that needs a status."""

from __future__ import annotations

from pathlib import Path

from iter8.api.experiment import Experiment
from tests.functions.harness import (
    Clock,
    add_event,
    canary,
    deliver,
    experiment,
    make_runtime,
    setup,
)
from tests.functions.test_phases import run_to_end


def run_canary(store: Path, algorithm: str = "bayesian", iterations: int = 6) -> Experiment:
    """A canary on mock latency (v2 twice as fast as v1), run to the end; the final experiment."""
    clock = Clock()
    runtime = make_runtime(store, clock)
    duration = {"intervalSeconds": 1, "iterationsPerLoop": iterations}
    manifest = canary(algorithm=algorithm, duration=duration)
    setup(runtime, manifest)
    deliver(runtime, add_event(manifest))
    run_to_end(runtime, clock)
    final = experiment(runtime)
    runtime.store.close()
    return final
