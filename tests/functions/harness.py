"""The four handlers called in-process on one embedded store, with a clock the test moves.

This is the unit level: events are handed from phase to phase by the test itself, so each
phase's idempotency can be poked at (duplicates, reordering, lost replies). The end-to-end
tests run the same handlers behind the real broker over HTTP.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cloudevents.http import CloudEvent

from functions.analyze import main as analyze
from functions.init import main as init
from functions.promote import main as promote
from functions.route import main as route
from functions.runtime import Runtime
from iter8.api.experiment import Experiment
from iter8.demo import experiment as demo_experiment
from iter8.demo.experiment import knative_service, knative_version_info
from iter8.events import EventType
from iter8.lifecycle.tick import Timeouts
from iter8.store import EXPERIMENTS, METRICS
from iter8.store.resources import KNATIVE_SERVICES
from iter8.store.sqlite import SqliteStore

HANDLERS = {
    EventType.REF_ADD: init.handle,
    EventType.RESOURCE_ADD: init.handle,
    EventType.INITIALIZATION_DUE: init.handle,
    EventType.INITIALIZED: analyze.handle,
    EventType.ITERATION_DUE: analyze.handle,
    EventType.ANALYSIS_COMPLETED: route.handle,
    EventType.CONCLUDED: promote.handle,
}


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_runtime(path: Path, clock: Clock) -> Runtime:
    return Runtime(store=SqliteStore(path), now=clock, seed=7, timeouts=Timeouts())


def deliver(runtime: Runtime, event: CloudEvent) -> CloudEvent | None:
    return HANDLERS[EventType(event["type"])](event, runtime)


def add_event(experiment: dict[str, Any]) -> CloudEvent:
    meta = experiment["metadata"]
    return CloudEvent(
        {
            "type": str(EventType.REF_ADD),
            "source": "sqlite://test",
            "subject": f"/apis/iter8.tools/v2alpha2/namespaces/{meta['namespace']}/experiments/{meta['name']}",
            "kind": "Experiment",
            "id": str(uuid.uuid4()),
        },
        {
            "kind": "Experiment",
            "apiVersion": "iter8.tools/v2alpha2",
            "namespace": meta["namespace"],
            "name": meta["name"],
        },
    )


def mock_metric(name: str, levels: dict[str, float], namespace: str = "default") -> dict[str, Any]:
    return demo_experiment.mock_metric(name, levels, namespace)


def canary(
    name: str = "exp", target: str = "default/app", algorithm: str = "iter8-v2", **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "target": target,
        "strategy": {
            "testingPattern": "Canary",
            "actions": {"finish": [{"if": "CandidateWon()", "run": "true"}]},
        },
        "criteria": {"objectives": [{"metric": "default/latency", "upperLimit": 200}]},
        "duration": {"intervalSeconds": 1, "iterationsPerLoop": 3},
        "versionInfo": knative_version_info("app", "default"),
    }
    body.update(spec)
    return {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Experiment",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {"iter8.tools/algorithm": algorithm},
        },
        "spec": body,
    }


def setup(
    runtime: Runtime, experiment: dict[str, Any], levels: dict[str, float] | None = None
) -> None:
    store = runtime.store
    store.create(KNATIVE_SERVICES, knative_service("app", "default"))
    store.create(METRICS, mock_metric("latency", levels or {"v1": 100, "v2": 50}))
    store.create(EXPERIMENTS, experiment)


def experiment(runtime: Runtime, name: str = "exp") -> Experiment:
    return Experiment.from_wire(runtime.store.get(EXPERIMENTS, "default", name))


def traffic(runtime: Runtime) -> list[int]:
    service = runtime.store.get(KNATIVE_SERVICES, "default", "app")
    return [entry["percent"] for entry in service["spec"]["traffic"]]
