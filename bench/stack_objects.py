"""What the stack benchmarks run: canary experiments on Knative Services with mock metrics.

Each experiment has its own Service (one active experiment per target), so N experiments run at
once; they share one mock Metric (v2 better, so iter8-v2 shifts traffic every iteration).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from iter8.demo.experiment import knative_service, mock_canary, mock_metric
from iter8.store import EXPERIMENTS, METRICS, AlreadyExists, Store
from iter8.store.resources import KNATIVE_SERVICES

NAMESPACE = "default"
ALGORITHM = "iter8-v2"


def canary(name: str, app: str, iterations: int, algorithm: str = ALGORITHM) -> dict[str, Any]:
    """A Canary on Service `app`: `iterations` iterations one second apart, promote at the end."""
    return mock_canary(name, app, iterations, algorithm, NAMESPACE)


def names(count: int) -> list[str]:
    width = len(str(max(count - 1, 0)))
    return [f"exp-{i:0{width}d}" for i in range(count)]


def create_targets(store: Store, count: int) -> None:
    """The shared Metric and one Service per experiment (`app-<i>`)."""
    with contextlib.suppress(AlreadyExists):
        store.create(METRICS, mock_metric(namespace=NAMESPACE))
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
