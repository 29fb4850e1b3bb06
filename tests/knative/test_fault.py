"""A function killed mid-chain on Knative's own broker: the route function dies after the first
iteration, so the second iteration's `analysis.completed` (driven by Knative's PingSource)
finds nobody; Knative's filter retries the delivery (the Trigger's 5 retries, exponential from
0.5 s) and one of those retries reaches the function started again, as Knative replaces a dead
pod. The experiment ends promoted with every iteration, and nothing is dead-lettered."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from datetime import datetime

import pytest
import yaml
from kubernetes import client

from eventing.broker.backoff import RetryPolicy
from iter8.store import EXPERIMENTS
from iter8.store.base import StoreError
from iter8.store.kubernetes import KubernetesStore
from iter8.store.resources import NAMESPACES
from tests.e2e.harness import parse_events
from tests.knative.local import UNITS, Iter8OnKnative, kubectl
from tests.knative.test_chain import canary, wait_completed

pytestmark = [pytest.mark.kube]
ROUTE = next(u for u in UNITS if u.service == "iter8-route")
REFUSED = "iter8-route.iter8-system.svc.cluster.local"


def filter_log(setup: Iter8OnKnative) -> str:
    logs = sorted((setup.knative.state / "pods").glob("knative-eventing.mt-broker-filter-*.log"))
    return "".join(path.read_text(errors="replace") for path in logs)


def failures(setup: Iter8OnKnative) -> list[float]:
    """When Knative's filter failed to reach the route function (its log's timestamps)."""
    found = []
    for line in filter_log(setup).splitlines():
        if REFUSED in line and '"msg":"failed to send event"' in line:
            stamp = json.loads(line)["ts"]
            found.append(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    return found


def test_a_killed_function_recovers_through_knatives_retries(
    iter8_knative: Iter8OnKnative, kube_client: client.ApiClient
) -> None:
    store = KubernetesStore(kube_client)
    ns = f"kn-fault-{secrets.token_hex(3)}"
    store.create(NAMESPACES, {"metadata": {"name": ns, "labels": {"iter8.tools/test": "true"}}})
    objects = canary(ns, "app", 50, [100, 0])
    objects[-1]["spec"]["duration"]["iterationsPerLoop"] = 3
    try:
        kubectl(iter8_knative.kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
        deadline = time.monotonic() + 120
        while (store.get(EXPERIMENTS, ns, "app").get("status") or {}).get(
            "completedIterations", 0
        ) < 1:
            assert time.monotonic() < deadline, "the first iteration did not complete"
            time.sleep(0.2)
        failures_before = len(failures(iter8_knative))
        iter8_knative.kill(ROUTE)  # dead until Knative's filter has failed to reach it
        deadline = time.monotonic() + 150
        while len(failures(iter8_knative)) == failures_before:
            assert time.monotonic() < deadline, "no delivery to the dead function was tried"
            time.sleep(0.2)
        time.sleep(2.5)  # the first retries (0.5 s, 1 s) fail too
        iter8_knative.start(ROUTE)
        final = wait_completed(store, ns, ["app"])["app"]
    finally:
        if ROUTE.service not in iter8_knative.processes:
            iter8_knative.start(ROUTE)
        with contextlib.suppress(StoreError):
            store.delete(NAMESPACES, "", ns)
    status = final["status"]
    assert status["completedIterations"] == 3, status
    assert status["analysis"]["decision"]["action"] == "promote", status["analysis"]
    # Knative's retries came when the embedded broker's would: the first two retries of this
    # Trigger's delivery (0.5 s, then 1 s later) failed too (other experiments' deliveries
    # may interleave in the log, so each expected moment is looked for, not each gap)
    attempts = failures(iter8_knative)[failures_before:]
    policy = RetryPolicy(retry=5, policy="exponential", delay_ns=500_000_000)
    expected = [attempts[0] + policy.wait_before(1)]
    expected.append(expected[0] + policy.wait_before(2))
    for moment in expected:
        assert any(abs(t - moment) < 0.2 for t in attempts), (expected, attempts)
    dead = parse_events(iter8_knative.log_of("iter8-deadletter"))
    assert [e for e in dead if e.experiment == f"{ns}/app"] == []
