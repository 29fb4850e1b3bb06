"""What the stack benchmarks run: canary experiments on Knative Services with mock metrics.

Each experiment has its own Service (one active experiment per target), so N experiments run at
once; they share one mock Metric (v2 better, so iter8-v2 shifts traffic every iteration).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from iter8.demo.experiment import knative_service, knative_version_info
from iter8.store import EXPERIMENTS, METRICS, AlreadyExists, Store
from iter8.store.resources import KNATIVE_SERVICES

NAMESPACE = "default"
METRIC = "latency"
ALGORITHM = "iter8-v2"


def mock_metric() -> dict[str, Any]:
    """Mock levels: fetching them costs no I/O, so an iteration is the code's own overhead."""
    return {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Metric",
        "metadata": {"name": METRIC, "namespace": NAMESPACE},
        "spec": {
            "type": "Gauge",
            "mock": [{"name": "v1", "level": "100"}, {"name": "v2", "level": "50"}],
        },
    }


def canary(name: str, app: str, iterations: int, algorithm: str = ALGORITHM) -> dict[str, Any]:
    """A Canary on Service `app`: `iterations` iterations one second apart, promote at the end."""
    return {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Experiment",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "annotations": {"iter8.tools/algorithm": algorithm},
        },
        "spec": {
            "target": f"{NAMESPACE}/{app}",
            "strategy": {"testingPattern": "Canary"},
            "criteria": {"objectives": [{"metric": f"{NAMESPACE}/{METRIC}", "upperLimit": 200}]},
            "duration": {"intervalSeconds": 1, "iterationsPerLoop": iterations, "maxLoops": 1},
            "versionInfo": knative_version_info(app, NAMESPACE),
        },
    }


def names(count: int) -> list[str]:
    width = len(str(max(count - 1, 0)))
    return [f"exp-{i:0{width}d}" for i in range(count)]


def create_targets(store: Store, count: int) -> None:
    """The shared Metric and one Service per experiment (`app-<i>`)."""
    with contextlib.suppress(AlreadyExists):
        store.create(METRICS, mock_metric())
    for name in names(count):
        store.create(KNATIVE_SERVICES, knative_service(app_of(name), NAMESPACE))


def create_experiments(
    store: Store, count: int, iterations: int, algorithm: str = ALGORITHM
) -> dict[str, datetime]:
    """Create them one after the other; when each was created."""
    created = {}
    for name in names(count):
        store.create(EXPERIMENTS, canary(name, app_of(name), iterations, algorithm))
        created[name] = datetime.now(UTC)
    return created


def app_of(experiment: str) -> str:
    return "app-" + experiment.removeprefix("exp-")
