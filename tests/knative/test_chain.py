"""Experiments created with kubectl run to the end on Knative Eventing's own code: its
ApiServerSource emits the add, its PingSource ticks (once a minute: Eventing 1.11 takes a
five-field schedule only), its MT broker delivers through the Triggers' filters, and the
functions' replies re-enter the broker. One promotion and one rollback run side by side; nothing
is dead-lettered.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml
from kubernetes import client

from iter8.store import EXPERIMENTS
from iter8.store.base import StoreError
from iter8.store.kubernetes import KubernetesStore
from iter8.store.resources import KNATIVE_SERVICES, NAMESPACES
from tests.e2e.builders import (
    Object,
    experiment,
    knative_ref,
    knative_service,
    mock_metric,
    version,
)
from tests.e2e.cases import split_of
from tests.e2e.harness import Sent, parse_events
from tests.knative.local import Iter8OnKnative, kubectl

pytestmark = [pytest.mark.kube]
ITERATIONS = 2  # the second one waits for a tick of the PingSource
TIMEOUT = 300  # seconds: a minute per tick, and a loaded machine


@dataclass(frozen=True)
class Run:
    namespace: str
    name: str
    final: Object


def canary(ns: str, name: str, candidate_latency: float, start: list[int]) -> list[Object]:
    """A Knative Service split `start`, a latency objective `≤ 200` with rollback on failure,
    mocked latencies 100 (baseline) and `candidate_latency`: promoted when it meets it."""
    objective = {"metric": f"{ns}/{name}-latency", "upperLimit": 200, "rollback_on_failure": True}
    return [
        knative_service(name, start, ns),
        mock_metric(f"{name}-latency", {"v1": 100, "v2": candidate_latency}, namespace=ns),
        mock_metric(f"{name}-requests", {"v1": 100, "v2": 100}, kind="Counter", namespace=ns),
        experiment(
            name,
            "Canary",
            [version("v1", knative_ref(name, 0, ns)), version("v2", knative_ref(name, 1, ns))],
            criteria={"requestCount": f"{ns}/{name}-requests", "objectives": [objective]},
            algorithm="iter8-v2",
            iterations=ITERATIONS,
            namespace=ns,
        ),
    ]


def wait_completed(store: KubernetesStore, ns: str, names: list[str]) -> dict[str, Object]:
    deadline = time.monotonic() + TIMEOUT
    done: dict[str, Object] = {}
    while time.monotonic() < deadline and len(done) < len(names):
        for name in names:
            current = store.get(EXPERIMENTS, ns, name)
            if (current.get("status") or {}).get("stage") == "Completed":
                done[name] = current
        time.sleep(1)
    missing = {n: store.get(EXPERIMENTS, ns, n).get("status") for n in names if n not in done}
    assert not missing, f"not Completed after {TIMEOUT} s: {missing}"
    return done


@pytest.fixture(scope="module")
def runs(iter8_knative: Iter8OnKnative, kube_client: client.ApiClient) -> Iterator[dict[str, Run]]:
    """Both experiments, created with `kubectl apply` in a namespace of their own, Completed."""
    store = KubernetesStore(kube_client)
    ns = f"kn-{secrets.token_hex(4)}"
    store.create(NAMESPACES, {"metadata": {"name": ns, "labels": {"iter8.tools/test": "true"}}})
    objects = [*canary(ns, "promoted", 50, [100, 0]), *canary(ns, "rolledback", 10000, [80, 20])]
    kubectl(iter8_knative.kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
    try:
        final = wait_completed(store, ns, ["promoted", "rolledback"])
        yield {name: Run(ns, name, exp) for name, exp in final.items()}
    finally:
        with contextlib.suppress(StoreError):
            store.delete(NAMESPACES, "", ns)


def events_for(setup: Iter8OnKnative, run: Run) -> list[Sent]:
    sent = parse_events(setup.log_of("iter8-notifier"))
    return [e for e in sent if e.experiment == f"{run.namespace}/{run.name}"]


def test_a_winning_candidate_is_promoted(
    runs: dict[str, Run], iter8_knative: Iter8OnKnative, kube_client: client.ApiClient
) -> None:
    run = runs["promoted"]
    status = run.final["status"]
    assert status["completedIterations"] == ITERATIONS, status
    decision = status["analysis"]["decision"]
    assert (decision["action"], decision["version"]) == ("promote", "v2"), decision
    routed = KubernetesStore(kube_client).get(KNATIVE_SERVICES, run.namespace, run.name)
    assert split_of(routed) == {"v1": 0, "v2": 100}
    kinds = [e.event for e in events_for(iter8_knative, run)]
    assert "experiment.promoted" in kinds and "experiment.rolledback" not in kinds, kinds
    assert "weights.applied" in kinds, kinds


def test_a_failing_candidate_is_rolled_back(
    runs: dict[str, Run], iter8_knative: Iter8OnKnative, kube_client: client.ApiClient
) -> None:
    run = runs["rolledback"]
    decision = run.final["status"]["analysis"]["decision"]
    assert decision["action"] == "rollback", decision
    routed = KubernetesStore(kube_client).get(KNATIVE_SERVICES, run.namespace, run.name)
    assert split_of(routed) == {"v1": 100, "v2": 0}
    kinds = [e.event for e in events_for(iter8_knative, run)]
    assert "experiment.rolledback" in kinds and "experiment.promoted" not in kinds, kinds


def test_nothing_is_dead_lettered(runs: dict[str, Run], iter8_knative: Iter8OnKnative) -> None:
    assert parse_events(iter8_knative.log_of("iter8-deadletter")) == []


def handled(setup: Iter8OnKnative, service: str) -> list[tuple[str, str]]:
    """(event type, what the function did) for every event the function's log says it handled."""
    lines = [
        json.loads(line) for line in setup.log_of(service).splitlines() if line.startswith("{")
    ]
    return [(line.get("type", ""), line.get("message", "")) for line in lines if "type" in line]


def test_the_chain_starts_at_knatives_apiserversource_and_goes_on_with_its_pings(
    runs: dict[str, Run], iter8_knative: Iter8OnKnative
) -> None:
    adds = [
        m for t, m in handled(iter8_knative, "iter8-init") if t == "dev.knative.apiserver.ref.add"
    ]
    assert adds.count("handled, replying tools.iter8.experiment.initialized") >= 2, adds
    pings = [
        t for t, _ in handled(iter8_knative, "iter8-analyze") if t == "dev.knative.sources.ping"
    ]
    assert pings, "analyze never got a tick from Knative's PingSource"
