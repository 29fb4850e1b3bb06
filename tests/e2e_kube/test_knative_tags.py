"""Knative tags on the real API server with the real Knative Serving CRD: `iter8 run` tags the
versions that have no tag for as long as the experiment runs — each gets its own URL (BlueGreen's
test route to a candidate at 0%) and users who send `Knative-Serving-Tag: v2` are pinned to v2
(a segment by tag-header routing) — and removes those tags at the end, leaving the user's own.

What users saw is replayed through `iter8.routing.traffic_model` (Knative's documented routing:
the tag header, else the percentages), over every state the Service went through (a watch from
its creation). Tag-header routing itself needs Knative Serving's
`features.tag-header-based-routing` flag, which is the cluster operator's (docs/traffic-shaping.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from iter8.routing.traffic_model import User, served
from iter8.store.kubernetes import KubernetesStore
from tests.e2e.builders import experiment, mock_metric, version
from tests.e2e_kube.test_patterns import changes
from tests.e2e_kube.test_run import iter8_run
from tests.e2e_kube.traffic import TARGETS, Object, history

pytestmark = pytest.mark.kube

TAGS = "iter8.tools/tags"
KNATIVE = TARGETS["knative"]


def service(ns: str) -> Object:
    """v1 carries the user's own tag `current` and a team annotation; v2 has no tag."""
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "app", "namespace": ns, "annotations": {"team": "search"}},
        "spec": {
            "template": {"metadata": {"name": "app-v2"}},
            "traffic": [
                {"tag": "current", "revisionName": "app-v1", "percent": 100},
                {"revisionName": "app-v2", "percent": 0},
            ],
        },
    }


def tags(state: Object) -> list[str | None]:
    return [entry.get("tag") for entry in state["spec"]["traffic"]]


@pytest.mark.parametrize("pattern", ["Progressive", "BlueGreen"])
def test_the_experiment_tags_untagged_versions_while_it_runs_and_only_those_go(
    pattern: str,
    kube_config: str,
    kube_client: client.ApiClient,
    kube_namespace: str,
    routing_crds: list[str],
    tmp_path: Path,
) -> None:
    ns = kube_namespace
    store = KubernetesStore.from_kubeconfig(kube_config)
    created = store.create(KNATIVE.resource, service(ns))
    baseline_ref, candidate_ref = KNATIVE.refs(ns)
    exp = experiment(
        "app",
        "Canary",
        [version("v1", baseline_ref), version("v2", candidate_ref)],
        criteria={"objectives": [{"metric": f"{ns}/latency", "upperLimit": 200}]},
        algorithm="iter8-v2",
        iterations=3,
        namespace=ns,
    )
    exp["spec"]["strategy"]["deploymentPattern"] = pattern
    metric = mock_metric("latency", {"v1": 50, "v2": 50}, namespace=ns)
    run = iter8_run(kube_config, tmp_path, ns, [metric, exp])
    assert run.code == 0, run.stderr
    assert run.output["status"]["analysis"]["decision"]["action"] == "promote"

    states = list(history(store, KNATIVE, ns, created["metadata"]["resourceVersion"]))
    *during, final = states
    assert during, "init tagged v2 before anything else was written"
    assert [tags(s) for s in during] == [["current", "v2"]] * len(during)
    assert all(s["metadata"]["annotations"] == {"team": "search", TAGS: "v2"} for s in during)
    if pattern == "BlueGreen":  # reached through its tag URL only: never a split in between
        assert changes([KNATIVE.split(s) for s in [created, *states]]) == [(100, 0), (0, 100)]

    # a segment pinned by the tag header: v2 only while the experiment runs, whatever the split
    pinned = [User(headers={"knative-serving-tag": "v2"}) for _ in range(20)]
    assert {v for seen in served("knative", during, pinned, 3, seed=1) for v in seen} == {"v2"}
    on_current = [User(headers={"knative-serving-tag": "current"}) for _ in range(20)]
    states_seen = served("knative", [created, *states], on_current, 3, seed=2)
    assert {v for seen in states_seen for v in seen} == {"current"}  # the user's tag: always v1

    assert tags(final) == ["current", None]  # the experiment's tag went, the user's stayed
    assert final["metadata"]["annotations"] == {"team": "search"}
    assert KNATIVE.split(final) == (0, 100)
