"""The Experiment and Metric CRDs on a real API server: Iter8 v2 manifests go in and come back
unchanged, unknown fields survive, and what the schema forbids is refused (422 → Invalid)."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from kubernetes import client

from iter8.store.base import AlreadyExists, Invalid, NotFound, Object
from iter8.store.kubernetes import KubernetesStore
from iter8.store.resources import EXPERIMENTS, METRICS, NAMESPACES, Resource
from tests.kube import CRDS, REPO, load_yaml

pytestmark = pytest.mark.kube

SAMPLES = REPO.parent / "shared" / "compat" / "iter8-v2-samples"
# Iter8 installs its built-in metrics (which the samples name `iter8-system/...`) there.
BUILTIN_METRICS_NAMESPACE = "iter8-system"
KINDS = {"Experiment": EXPERIMENTS, "Metric": METRICS}


def _sample_files() -> list[str]:
    """Sample files holding Experiments or Metrics (the others hold only a Knative Service)."""
    if not SAMPLES.is_dir():
        return []
    return sorted(
        p.name for p in SAMPLES.glob("*.yaml") if any(d["kind"] in KINDS for d in load_yaml(p))
    )


def test_every_sample_file_is_covered() -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"Iter8 v2 samples not found at {SAMPLES}")
    skipped = {p.name for p in SAMPLES.glob("*.yaml")} - set(_sample_files())
    assert skipped == {"knative-quickstart-experimentalservice.yaml"}  # a Knative Service only


@pytest.mark.parametrize("sample", _sample_files())
def test_sample_reads_back_unchanged(
    sample: str, iter8_crds: list[str], kube_client: client.ApiClient, kube_namespace: str
) -> None:
    """Experiments without a namespace go to the test's namespace, Metrics without one to
    iter8-system; namespaced Metrics keep their namespace (replaced if an earlier run left them)."""
    store = KubernetesStore(kube_client)
    created = 0
    for doc in load_yaml(SAMPLES / sample):
        if doc["kind"] == "Namespace":
            _ensure_namespace(store, doc["metadata"]["name"])
            continue
        resource = KINDS.get(doc["kind"])
        if resource is None:
            continue
        default = kube_namespace if resource is EXPERIMENTS else BUILTIN_METRICS_NAMESPACE
        namespace = doc["metadata"].get("namespace", default)
        _ensure_namespace(store, namespace)
        obj = copy.deepcopy(doc)
        obj["metadata"]["namespace"] = namespace
        _delete_if_present(store, resource, namespace, obj["metadata"]["name"])
        store.create(resource, obj)
        got = store.get(resource, namespace, obj["metadata"]["name"])
        assert got["spec"] == doc["spec"], f"{doc['kind']} {obj['metadata']['name']} changed"
        assert got["metadata"].get("labels") == doc["metadata"].get("labels")
        created += 1
    assert created > 0


def test_unknown_fields_are_kept_everywhere(
    iter8_crds: list[str], kube_client: client.ApiClient, kube_namespace: str
) -> None:
    """A manifest from a newer (or older) Iter8 must not lose fields it has and we don't know."""
    store = KubernetesStore(kube_client)
    exp = _experiment(kube_namespace)
    spec = exp["spec"]
    spec["futureField"] = {"a": [1, 2]}
    spec["strategy"]["type"] = "Canary"  # v2alpha1
    spec["strategy"]["weights"] = {"maxCandidateWeight": 50, "future": True}
    spec["strategy"]["actions"]["start"][0]["future"] = "x"
    spec["criteria"]["objectives"][0]["future"] = 1
    spec["duration"]["maxIterations"] = 3  # v2alpha1
    spec["versionInfo"]["baseline"]["weightObjRef"]["future"] = "y"
    spec["versionInfo"]["candidates"][0]["variables"][0]["future"] = "z"
    created = store.create(EXPERIMENTS, exp)
    assert created["spec"] == spec
    status = {
        "stage": "Running",
        "analysis": {"winnerAssessment": {"data": {"winnerFound": False}}, "extra": [1]},
        "futureStatus": {"posteriors": [0.1, 0.9]},
        "conditions": [{"type": "Completed", "status": "False", "future": "kept"}],
    }
    stored = store.patch(
        EXPERIMENTS, kube_namespace, "exp", {"status": status}, subresource="status"
    )
    assert stored["status"] == status
    assert stored["spec"] == spec


def test_metric_unknown_fields_are_kept(
    iter8_crds: list[str], kube_client: client.ApiClient, kube_namespace: str
) -> None:
    store = KubernetesStore(kube_client)
    spec = {"type": "Gauge", "mock": [{"name": "v1", "level": 5, "future": 1}], "future": {"x": 1}}
    metric = {"metadata": {"name": "m", "namespace": kube_namespace}, "spec": spec}
    assert store.create(METRICS, metric)["spec"] == spec


EXPERIMENT_VIOLATIONS: list[tuple[str, Any]] = [
    ("duration.intervalSeconds", "abc"),
    ("duration.intervalSeconds", 0),
    ("duration.maxLoops", -1),
    ("strategy.testingPattern", "Bandit"),
    ("strategy.testingPattern", None),
    ("strategy.deploymentPattern", "Linear"),
    ("strategy.weights", {"maxCandidateWeight": 101}),
    ("strategy.weights", {"maxCandidateWeightIncrement": -1}),
    ("strategy.actions", {"start": "not a list"}),
    ("criteria.rewards", [{"metric": "m", "preferredDirection": "Up"}]),
    ("criteria.objectives", [{"metric": "m", "upperLimit": "abc"}]),
    ("criteria.objectives", [{"metric": "m", "rollback_on_failure": "yes"}]),
    ("criteria.objectives", [{"upperLimit": 5}]),
    ("criteria.indicators", "m"),
    ("versionInfo.baseline", {"variables": []}),
    ("versionInfo.candidates", [{"name": "v2", "variables": [{"name": "x", "value": 1}]}]),
    ("target", ""),
    ("target", None),
]


@pytest.mark.parametrize(("field", "value"), EXPERIMENT_VIOLATIONS)
def test_experiment_schema_violation_is_invalid(
    field: str,
    value: Any,
    iter8_crds: list[str],
    kube_client: client.ApiClient,
    kube_namespace: str,
) -> None:
    store = KubernetesStore(kube_client)
    exp = _experiment(kube_namespace)
    _set(exp["spec"], field, value)
    with pytest.raises(Invalid):
        store.create(EXPERIMENTS, exp)
    with pytest.raises(NotFound):
        store.get(EXPERIMENTS, kube_namespace, "exp")


@pytest.mark.parametrize(
    "status",
    [
        {"completedIterations": "three"},
        {"completedIterations": -1},
        {"initTime": "yesterday"},
        {"currentWeightDistribution": [{"name": "v1", "value": "half"}]},
        {"conditions": [{"type": "Completed", "status": "Maybe"}]},
        {"analysis": "not an object"},
    ],
)
def test_experiment_status_violation_is_invalid(
    status: Object, iter8_crds: list[str], kube_client: client.ApiClient, kube_namespace: str
) -> None:
    store = KubernetesStore(kube_client)
    store.create(EXPERIMENTS, _experiment(kube_namespace))
    with pytest.raises(Invalid):
        store.patch(EXPERIMENTS, kube_namespace, "exp", {"status": status}, subresource="status")


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "Histogram"},
        {"method": "PUT"},
        {"authType": "Digest"},
        {"mock": [{"name": "v1", "level": "lots"}]},
        {"mock": [{"name": "v1"}]},
        {"params": [{"name": "query"}]},
        {"headerTemplates": "x"},
    ],
)
def test_metric_schema_violation_is_invalid(
    spec: Object, iter8_crds: list[str], kube_client: client.ApiClient, kube_namespace: str
) -> None:
    metric = {"metadata": {"name": "m", "namespace": kube_namespace}, "spec": spec}
    with pytest.raises(Invalid):
        KubernetesStore(kube_client).create(METRICS, metric)


def test_quantities_accept_integers_and_strings(
    iter8_crds: list[str], kube_client: client.ApiClient, kube_namespace: str
) -> None:
    store = KubernetesStore(kube_client)
    exp = _experiment(kube_namespace)
    objectives = [
        {"metric": "a", "upperLimit": 300, "lowerLimit": "0.01"},
        {"metric": "b", "upperLimit": "10m", "lowerLimit": "-1.5e3"},
        {"metric": "c", "upperLimit": "2Gi", "rollback_on_failure": True},
    ]
    exp["spec"]["criteria"]["objectives"] = objectives
    assert store.create(EXPERIMENTS, exp)["spec"]["criteria"]["objectives"] == objectives


def test_printer_columns(iter8_crds: list[str], kube_client: client.ApiClient) -> None:
    """`kubectl get experiments|metrics` shows the columns Iter8 v2 showed."""
    store = KubernetesStore(kube_client)
    experiments = store.get(CRDS, "", "experiments.iter8.tools")["spec"]["versions"][0]
    assert [(c["name"], c["jsonPath"]) for c in experiments["additionalPrinterColumns"]] == [
        ("type", ".spec.strategy.testingPattern"),
        ("target", ".spec.target"),
        ("stage", ".status.stage"),
        ("completed iterations", ".status.completedIterations"),
        ("message", ".status.message"),
    ]
    assert experiments["subresources"] == {"status": {}}
    metrics = store.get(CRDS, "", "metrics.iter8.tools")["spec"]["versions"][0]
    assert [(c["name"], c["jsonPath"]) for c in metrics["additionalPrinterColumns"]] == [
        ("type", ".spec.type"),
        ("description", ".spec.description"),
    ]
    assert "subresources" not in metrics or "status" not in metrics["subresources"]


def test_kubectl_get_shows_the_columns(
    iter8_crds: list[str], kube_client: client.ApiClient, kube_namespace: str
) -> None:
    """The server renders the table kubectl prints; its cells come from the jsonPaths."""
    store = KubernetesStore(kube_client)
    store.create(EXPERIMENTS, _experiment(kube_namespace))
    status = {"stage": "Running", "completedIterations": 3, "message": "IterationUpdate: 3"}
    store.patch(EXPERIMENTS, kube_namespace, "exp", {"status": status}, subresource="status")
    table = _table(
        kube_client, f"/apis/iter8.tools/v2alpha2/namespaces/{kube_namespace}/experiments"
    )
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns == ["Name", "type", "target", "stage", "completed iterations", "message"]
    row = table["rows"][0]["cells"]
    assert row[:6] == ["exp", "Canary", "default/sample-app", "Running", 3, "IterationUpdate: 3"]


def _table(api: client.ApiClient, path: str) -> Object:
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
    _, url, headers, _, _ = api.param_serialize(
        "GET", path, header_params={"Accept": accept}, auth_settings=["BearerToken"]
    )
    response = api.call_api("GET", url, header_params=headers)
    data = response.read()
    assert response.status == 200, data
    return dict(json.loads(data))


def _experiment(namespace: str) -> Object:
    return {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Experiment",
        "metadata": {"name": "exp", "namespace": namespace},
        "spec": {
            "target": "default/sample-app",
            "strategy": {
                "testingPattern": "Canary",
                "actions": {"start": [{"task": "common/readiness", "with": {"x": [1]}}]},
            },
            "criteria": {"objectives": [{"metric": "iter8-system/mean-latency", "upperLimit": 50}]},
            "duration": {"intervalSeconds": 1, "iterationsPerLoop": 2},
            "versionInfo": {
                "baseline": {
                    "name": "v1",
                    "weightObjRef": {
                        "apiVersion": "serving.knative.dev/v1",
                        "kind": "Service",
                        "name": "sample-app",
                        "fieldPath": ".spec.traffic[0].percent",
                    },
                },
                "candidates": [{"name": "v2", "variables": [{"name": "ns", "value": "x"}]}],
            },
        },
    }


def _set(obj: Object, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        obj = obj.setdefault(key, {})
    if value is None:
        obj.pop(last, None)
    else:
        obj[last] = value


def _ensure_namespace(store: KubernetesStore, name: str) -> None:
    with contextlib.suppress(AlreadyExists):
        store.create(NAMESPACES, {"metadata": {"name": name}})


def _delete_if_present(
    store: KubernetesStore, resource: Resource, namespace: str, name: str
) -> None:
    with contextlib.suppress(NotFound):
        store.delete(resource, namespace, name)
