"""`common/readiness` with an injected sleep: objects appear while it waits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from iter8.api.experiment import Experiment
from iter8.routing import resource_for
from iter8.store.resources import KNATIVE_SERVICES
from iter8.store.sqlite import SqliteStore
from iter8.tasks import TaskContext, run_action
from iter8.tasks.base import TaskFailed
from iter8.tasks.library.common_readiness import parse_wait_for
from iter8.tasks.objects import api_version_of
from tests.routing.objects import experiment, knative_experiment, knative_service
from tests.tasks.conftest import tasks

DEPLOYMENTS = resource_for(*api_version_of("deploy", None))


def deployment(name: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": 1},
    }


class Clock:
    """A sleep that records the delays and runs `on_sleep(n)` at the n-th call."""

    def __init__(self, on_sleep: Callable[[int], None] = lambda n: None) -> None:
        self.delays: list[float] = []
        self.on_sleep = on_sleep

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.on_sleep(len(self.delays))


def unrouted() -> Experiment:
    return experiment([("app-v1", None), ("app-v2", None)], testing="A/B")


def context(store: SqliteStore, tmp_path: Path, clock: Clock, exp: Experiment) -> TaskContext:
    return TaskContext(experiment=exp, store=store, work_dir=tmp_path, sleep=clock)


def test_waits_for_the_weight_objects_until_they_exist(store: SqliteStore, tmp_path: Path) -> None:
    def create_on_third(n: int) -> None:
        if n == 3:
            store.create(KNATIVE_SERVICES, knative_service())

    clock = Clock(create_on_third)
    spec = {"task": "common/readiness", "with": {"initialDelaySeconds": 2, "intervalSeconds": 1}}
    result = run_action(tasks(spec), context(store, tmp_path, clock, knative_experiment()))
    assert result.ok, result.message
    assert clock.delays == [2, 1, 1]  # initial delay, then two intervals
    assert result.outcomes[0].message == "1 object(s) ready after 3 check(s)"


def set_available(store: SqliteStore, status: str) -> None:
    obj = store.get(DEPLOYMENTS, "default", "app-v2")
    obj["status"] = {"conditions": [{"type": "Available", "status": status}]}
    store.replace_status(DEPLOYMENTS, obj)


WAIT_FOR_AVAILABLE = {
    "task": "common/readiness",
    "with": {
        "initialDelaySeconds": 0,
        "numRetries": 3,
        "objRefs": [{"kind": "deploy", "name": "app-v2", "waitFor": "condition=Available"}],
    },
}


def test_wait_for_a_condition(store: SqliteStore, tmp_path: Path) -> None:
    store.create(DEPLOYMENTS, deployment("app-v2"))
    set_available(store, "False")
    clock = Clock(lambda n: set_available(store, "True") if n == 2 else None)
    result = run_action(tasks(WAIT_FOR_AVAILABLE), context(store, tmp_path, clock, unrouted()))
    assert result.ok, result.message
    assert clock.delays == [5, 5]


def test_a_condition_that_stays_false(store: SqliteStore, tmp_path: Path) -> None:
    store.create(DEPLOYMENTS, deployment("app-v2"))
    set_available(store, "False")
    clock = Clock()
    result = run_action(tasks(WAIT_FOR_AVAILABLE), context(store, tmp_path, clock, unrouted()))
    assert not result.ok
    assert "Deployment.apps/v1 default/app-v2: condition Available is False" in result.message
    assert clock.delays == [5, 5, 5]


def test_gives_up_after_the_retries_listing_what_is_missing(
    store: SqliteStore, tmp_path: Path
) -> None:
    clock = Clock()
    spec = {
        "task": "common/readiness",
        "with": {
            "numRetries": 2,
            "intervalSeconds": 3,
            "objRefs": [
                {"kind": "Deployment", "apiVersion": "apps/v1", "name": "a"},
                {"kind": "ksvc", "name": "b", "waitFor": "Ready"},
            ],
        },
    }
    result = run_action(tasks(spec), context(store, tmp_path, clock, knative_experiment()))
    assert not result.ok
    assert result.message.startswith("task 0 (common/readiness) failed: not ready after 3 checks")
    assert "Deployment.apps/v1 default/a not found" in result.message
    assert "Service.serving.knative.dev/v1 default/b not found" in result.message
    assert clock.delays == [5, 3, 3]


@pytest.mark.parametrize(
    ("wait_for", "expected"),
    [
        ("condition=Ready", ("Ready", "True")),
        ("Ready", ("Ready", "True")),
        ("condition=Ready=False", ("Ready", "False")),
    ],
)
def test_wait_for_forms(wait_for: str, expected: tuple[str, str]) -> None:
    assert parse_wait_for(wait_for) == expected


def test_unsupported_wait_for_and_unknown_short_kinds_are_refused() -> None:
    with pytest.raises(TaskFailed, match="only condition="):
        parse_wait_for("delete")
    with pytest.raises(TaskFailed, match="needs an apiVersion"):
        api_version_of("Widget", None)
    assert api_version_of("deploy", None) == ("apps/v1", "Deployment")
