"""Two copies (processes) of each function against the same API server, every event delivered
to both (each copy the subscriber of its own Trigger, `StackOptions.replicas`): the experiment
still ends as it would with one copy, each iteration analysed once and applied once.

The experiment, its history checks and the doubled-delivery reasoning are those of
`tests/e2e/test_faults.py` (an `iter8-v2` canary on a mocked metric: iteration n leaves exactly
n × 10% on the candidate), here with the Experiment, Metric and Knative Service (real CRD) held
by the real kube-apiserver and the history replayed by its watch.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from iter8.embedded.processes import PHASES
from iter8.embedded.stack import EmbeddedStack, StackOptions
from iter8.store.kubernetes import KubernetesStore
from tests.e2e.harness import Harness
from tests.e2e.test_faults import canary, check_ended_once

pytestmark = pytest.mark.kube

ITERATIONS = 5


@pytest.fixture
def two_copies(
    kube_config: str, kube_namespace: str, routing_crds: list[str], tmp_path: Path
) -> Iterator[Harness]:
    store = KubernetesStore.from_kubeconfig(kube_config)
    options = StackOptions(
        store="kubernetes",
        kubeconfig=kube_config,
        tick=timedelta(seconds=0.3),
        seed=7,
        log_dir=tmp_path / "logs",
        env={"ITER8_NAMESPACE": kube_namespace},  # the target Leases
        replicas=2,
        namespace=kube_namespace,
    )
    try:
        with EmbeddedStack(store, options) as stack:
            yield Harness(stack, store, options.log_dir)  # type: ignore[arg-type]
    finally:
        store.close()


def events_seen(log: Path) -> set[str]:
    """The ids of the events a function process logged handling."""
    lines = (json.loads(line) for line in log.read_text().splitlines() if line.startswith("{"))
    return {line["event"] for line in lines if "event" in line}


def test_two_copies_of_each_function_apply_each_iteration_once(
    two_copies: Harness, kube_namespace: str
) -> None:
    harness, ns = two_copies, kube_namespace
    broker = harness.stack.broker
    assert broker is not None
    functions = harness.stack.functions
    assert Counter(f.phase for f in functions) == dict.fromkeys(PHASES, 2)
    urls = Counter(t.url for t in broker.engine.targets())
    assert all(urls[f.url] == 1 for f in functions), "each copy is its own Trigger's subscriber"

    since = harness.mark()
    ref = harness.submit(*canary("twice", ITERATIONS, namespace=ns))
    check_ended_once(harness, ref, since, ITERATIONS, namespace=ns)
    assert harness.dead_letters() == "", "conflicts were retried, nothing dead-lettered"
    assert broker.stats["delivered"] >= 2 * ITERATIONS * 3

    # every event went to both copies of its function: each logged handling the same events
    for phase in PHASES:
        first = events_seen(harness.log_dir / f"{phase}.log")
        second = events_seen(harness.log_dir / f"{phase}-2.log")
        assert first and first == second, (phase, first ^ second)
