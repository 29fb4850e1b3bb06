"""The KServe and Gateway API routers, and references by any served version of a kind, on the
embedded store (tests/e2e_kube/test_traffic_objects.py does the same on the real API server)."""

from __future__ import annotations

import pytest

from iter8.routing import (
    NotReady,
    ObjectKey,
    RoutingError,
    WeightTarget,
    apply_weights,
    plan_object,
    read_weights,
    router_for,
)
from iter8.store.resources import Resource
from iter8.store.sqlite import SqliteStore
from tests.routing.objects import (
    GATEWAY,
    KFSERVING,
    KSERVE,
    experiment,
    http_route,
    inference_service,
    isvc_status,
    ref,
    virtual_service,
)

CANARY = ".spec.predictor.canaryTrafficPercent"
ISVC_TARGET = [WeightTarget("v2", CANARY)]
HR_TARGETS = [
    WeightTarget("v1", ".spec.rules[1].backendRefs[0].weight"),
    WeightTarget("v2", ".spec.rules[1].backendRefs[1].weight"),
]


@pytest.mark.parametrize(
    ("api_version", "kind", "name"),
    [
        (*KSERVE, "kserve"),
        (*KFSERVING, "kserve"),
        ("serving.kubeflow.org/v1alpha2", "InferenceService", "kserve"),
        (*GATEWAY, "gateway-api"),
        ("gateway.networking.k8s.io/v1beta1", "HTTPRoute", "gateway-api"),
        ("gateway.networking.k8s.io/v1", "GRPCRoute", "generic"),
    ],
)
def test_the_new_routers_are_found_through_the_registry(
    api_version: str, kind: str, name: str
) -> None:
    assert router_for(api_version, kind).name == name


def with_status(obj: dict, status: dict) -> dict:
    return {**obj, "status": status}


@pytest.mark.parametrize("kind", [KSERVE, KFSERVING])
def test_kserve_writes_canary_traffic_percent_once_ready(kind: tuple[str, str]) -> None:
    isvc = with_status(inference_service(0, kind), isvc_status())
    ops = router_for(*kind).plan(isvc, ISVC_TARGET, {"v2": 30})
    assert ops == [{"op": "replace", "path": "/spec/predictor/canaryTrafficPercent", "value": 30}]


def test_kserve_missing_percent_means_the_latest_revision_has_everything() -> None:
    assert router_for(*KSERVE).read(inference_service(None), CANARY) == 100


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ({}, "no Ready condition"),
        (isvc_status(ready="False"), "condition Ready is False"),
        (isvc_status(created="iris-3", latest="iris-2"), "iris-3 is not ready"),
    ],
)
def test_kserve_raises_the_canary_only_when_ready(status: dict, reason: str) -> None:
    router = router_for(*KSERVE)
    isvc = with_status(inference_service(10), status)
    with pytest.raises(NotReady, match=reason):  # route holds the split on it, not fails
        router.plan(isvc, ISVC_TARGET, {"v2": 20})
    meta = isvc["metadata"]
    key = ObjectKey(isvc["apiVersion"], isvc["kind"], meta.get("namespace", ""), meta["name"])
    with pytest.raises(NotReady, match=f"{key}: .*{reason}"):  # still NotReady, with its object
        plan_object(key, isvc, ISVC_TARGET, {"v2": 20})
    # a rollback (less canary traffic) is never held back
    assert router.plan(isvc, ISVC_TARGET, {"v2": 0})[0]["value"] == 0


def test_kserve_refuses_a_path_outside_the_components() -> None:
    with pytest.raises(RoutingError, match="canaryTrafficPercent"):
        router_for(*KSERVE).plan(
            inference_service(0), [WeightTarget("v2", ".spec.predictor.minReplicas")], {"v2": 1}
        )


def test_gateway_plan_replaces_and_adds_backend_weights() -> None:
    router = router_for(*GATEWAY)
    assert router.read(http_route((100, None)), HR_TARGETS[1].field_path) == 1  # CRD default
    ops = router.plan(http_route((100, None)), HR_TARGETS, {"v1": 70, "v2": 30})
    assert ops == [
        {"op": "replace", "path": "/spec/rules/1/backendRefs/0/weight", "value": 70},
        {"op": "add", "path": "/spec/rules/1/backendRefs/1/weight", "value": 30},
    ]
    with pytest.raises(RoutingError, match="backendRefs"):
        router.plan(http_route(), [WeightTarget("v1", ".spec.rules[1].weight")], {"v1": 1})


def test_kserve_experiment_on_the_embedded_store(store: SqliteStore) -> None:
    resource = Resource.from_api_version(*KSERVE)
    store.create(resource, inference_service(0))
    exp = experiment([("v1", None), ("v2", ref(KSERVE, "sklearn-iris", CANARY))])
    with pytest.raises(RoutingError, match="readiness unknown"):
        apply_weights(store, exp, {"v1": 80, "v2": 20})
    current = store.get(resource, "default", "sklearn-iris")
    store.replace_status(resource, {**current, "status": isvc_status()})
    apply_weights(store, exp, {"v1": 80, "v2": 20})
    assert read_weights(store, exp) == {"v1": 80, "v2": 20}


VS_V1ALPHA3 = ("networking.istio.io/v1alpha3", "VirtualService")


@pytest.mark.parametrize("named", ["networking.istio.io/v1beta1", "networking.istio.io/v1"])
def test_a_reference_by_another_served_version_finds_the_object(
    store: SqliteStore, named: str
) -> None:
    """Iter8 v2's Istio samples: created as v1alpha3, named v1beta1 by the experiment."""
    stored = {**virtual_service((100, 0), ns="default"), "apiVersion": VS_V1ALPHA3[0]}
    store.create(Resource.from_api_version(*VS_V1ALPHA3), stored)
    kind = (named, "VirtualService")
    exp = experiment(
        [
            ("v1", ref(kind, "bookinfo", ".spec.http[0].route[0].weight")),
            ("v2", ref(kind, "bookinfo", ".spec.http[0].route[1].weight")),
        ]
    )
    apply_weights(store, exp, {"v1": 40, "v2": 60})
    again = store.get(Resource.from_api_version(*VS_V1ALPHA3), "default", "bookinfo")
    assert [r["weight"] for r in again["spec"]["http"][0]["route"]] == [40, 60]


def test_a_version_the_kind_never_served_is_not_found(store: SqliteStore) -> None:
    store.create(Resource.from_api_version(*VS_V1ALPHA3), {
        **virtual_service(ns="default"), "apiVersion": VS_V1ALPHA3[0]
    })  # fmt: skip
    kind = ("networking.istio.io/v2", "VirtualService")
    exp = experiment([("v1", None), ("v2", ref(kind, "bookinfo", ".spec.http[0].route[1].weight"))])
    with pytest.raises(RoutingError, match="not found"):
        read_weights(store, exp)
