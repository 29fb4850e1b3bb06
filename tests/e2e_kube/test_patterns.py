"""BlueGreen and FixedSplit end to end on every target, on the real API server with the real
CRDs: `iter8 run` drives the experiment through init, analyze, route and promote, and the test
replays every state the routed object went through (a watch from its creation).

BlueGreen: the candidate stays at 0% (reachable only through the test route or tag) until one
patch switches 0 → 100; a failing candidate is rolled back with no write at all, the baseline
having kept 100% throughout. Never a split in between. FixedSplit: the user's split never moves
while the experiment runs; the winner gets 100% at the end.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from iter8.store.kubernetes import KubernetesStore
from tests.e2e.builders import experiment, mock_metric, version
from tests.e2e_kube.test_run import iter8_run
from tests.e2e_kube.traffic import TARGETS, Object, Target, history, leftovers

pytestmark = pytest.mark.kube

LIMIT = 200  # ms; a mocked Gauge stays within (0, 2·level]: level 50 passes, 10000 fails


def run_objects(target: Target, ns: str, pattern: str, candidate_level: float) -> list[Object]:
    baseline_ref, candidate_ref = target.refs(ns)
    exp = experiment(
        "app",
        "Canary",
        [version("v1", baseline_ref), version("v2", candidate_ref)],
        criteria={"objectives": [{"metric": f"{ns}/latency", "upperLimit": LIMIT}]},
        algorithm="iter8-v2",
        iterations=3,
        namespace=ns,
    )
    exp["spec"]["strategy"]["deploymentPattern"] = pattern
    return [mock_metric("latency", {"v1": 50, "v2": candidate_level}, namespace=ns), exp]


def drive(
    target: Target,
    kube_config: str,
    ns: str,
    tmp_path: Path,
    pattern: str,
    start: tuple[int, int],
    candidate_level: float,
    mirror: int = 0,
    states: list[Object] | None = None,
) -> tuple[Object, list[tuple[int, int]], Object]:
    """The run's output, every split the object held from creation to the end, and the object
    at the end. `mirror`: a dark launch, that % of requests mirrored to the candidate."""
    store = KubernetesStore.from_kubeconfig(kube_config)
    created = target.create(store, ns, start, mirror)
    since = created["metadata"]["resourceVersion"]
    run = iter8_run(kube_config, tmp_path, ns, run_objects(target, ns, pattern, candidate_level))
    assert run.code == 0, run.stderr
    seen = list(history(store, target, ns, since))
    if mirror:  # the mirror was there until the end (the dark launch ran on it)
        assert all(leftovers(target, state) for state in [created, *seen[:-1]])
    if states is not None:
        states[:] = [created, *seen]
    return run.output, [start, *(target.split(s) for s in seen)], (seen or [created])[-1]


def changes(splits: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The splits with repeats (writes that did not move the weights) removed."""
    return [s for i, s in enumerate(splits) if i == 0 or s != splits[i - 1]]


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_blue_green_switches_in_one_patch(
    name: str,
    kube_config: str,
    kube_client: client.ApiClient,
    kube_namespace: str,
    traffic_crds: list[str],
    tmp_path: Path,
) -> None:
    target = TARGETS[name]
    output, splits, final = drive(
        target, kube_config, kube_namespace, tmp_path, "BlueGreen", (100, 0), 50
    )
    assert output["status"]["analysis"]["decision"]["action"] == "promote", output["status"]
    assert changes(splits) == [(100, 0), (0, 100)], splits  # one switch, nothing between
    assert leftovers(target, final) == []  # the test route went in the same patch


@pytest.mark.parametrize("name", ["istio", "knative"])
def test_blue_green_rollback_never_exposes_the_candidate(
    name: str,
    kube_config: str,
    kube_client: client.ApiClient,
    kube_namespace: str,
    traffic_crds: list[str],
    tmp_path: Path,
) -> None:
    output, splits, _ = drive(
        TARGETS[name], kube_config, kube_namespace, tmp_path, "BlueGreen", (100, 0), 10000
    )
    decision = output["status"]["analysis"]["decision"]
    assert decision["action"] in ("rollback", "no-winner"), decision
    assert output["status"]["versionRecommendedForPromotion"] == "v1"
    assert changes(splits) == [(100, 0)], splits


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fixed_split_keeps_the_split_and_promotes_the_winner(
    name: str,
    kube_config: str,
    kube_client: client.ApiClient,
    kube_namespace: str,
    traffic_crds: list[str],
    tmp_path: Path,
) -> None:
    output, splits, _ = drive(
        TARGETS[name], kube_config, kube_namespace, tmp_path, "FixedSplit", (60, 40), 50
    )
    assert output["status"]["analysis"]["decision"]["action"] == "promote", output["status"]
    assert changes(splits) == [(60, 40), (0, 100)], splits


@pytest.mark.parametrize("name", ["istio", "gateway-api"])
@pytest.mark.parametrize(("level", "outcome"), [(50, (0, 100)), (10000, (100, 0))])
def test_dark_launch_mirror_never_survives_the_experiment(
    name: str,
    level: float,
    outcome: tuple[int, int],
    kube_config: str,
    kube_client: client.ApiClient,
    kube_namespace: str,
    traffic_crds: list[str],
    tmp_path: Path,
) -> None:
    """Users stay on v1 while v2 gets a mirrored 20% (Istio mirror + mirrorPercentage, Gateway
    API RequestMirror percent); a good v2 is switched in, a bad one never saw a user; either
    way the mirror and the test route are gone at the end."""
    target = TARGETS[name]
    _, splits, final = drive(
        target, kube_config, kube_namespace, tmp_path, "BlueGreen", (100, 0), level, mirror=20
    )
    assert changes(splits) == [(100, 0)] + ([outcome] if outcome != (100, 0) else []), splits
    assert leftovers(target, final) == [], final["spec"]
