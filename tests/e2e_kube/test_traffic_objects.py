"""The KServe and Gateway API routers, and references by any served version, against the real
API server with the real CRDs: every object the routers write is accepted by the CRD's schema
and reads back as written (1.20 drops unknown fields silently, so reading back is the check)."""

from __future__ import annotations

import pytest

from iter8.routing import RoutingError, apply_weights, read_weights
from iter8.store.kubernetes import KubernetesStore
from iter8.store.resources import Resource
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

pytestmark = pytest.mark.kube

CANARY = ".spec.predictor.canaryTrafficPercent"


@pytest.fixture
def store(kube_config: str, traffic_crds: list[str]) -> KubernetesStore:
    return KubernetesStore.from_kubeconfig(kube_config)


@pytest.mark.parametrize("kind", [KSERVE, KFSERVING], ids=["kserve", "kfserving"])
def test_kserve_canary_on_the_api_server(
    store: KubernetesStore, kube_namespace: str, kind: tuple[str, str]
) -> None:
    resource = Resource.from_api_version(*kind)
    store.create(resource, inference_service(0, kind, kube_namespace))
    exp = experiment([("v1", None), ("v2", ref(kind, "sklearn-iris", CANARY))], ns=kube_namespace)
    with pytest.raises(RoutingError, match="readiness unknown"):  # no controller wrote status
        apply_weights(store, exp, {"v1": 70, "v2": 30})
    current = store.get(resource, kube_namespace, "sklearn-iris")
    store.replace_status(resource, {**current, "status": isvc_status()})
    apply_weights(store, exp, {"v1": 70, "v2": 30})
    stored = store.get(resource, kube_namespace, "sklearn-iris")
    assert stored["spec"]["predictor"]["canaryTrafficPercent"] == 30
    assert read_weights(store, exp) == {"v1": 70, "v2": 30}


def test_httproute_weights_on_the_api_server(store: KubernetesStore, kube_namespace: str) -> None:
    resource = Resource.from_api_version(*GATEWAY)
    store.create(resource, http_route((100, None), kube_namespace))
    exp = experiment(
        [
            ("v1", ref(GATEWAY, "reviews", ".spec.rules[1].backendRefs[0].weight")),
            ("v2", ref(GATEWAY, "reviews", ".spec.rules[1].backendRefs[1].weight")),
        ],
        ns=kube_namespace,
    )
    assert read_weights(store, exp) == {"v1": 100, "v2": 1}  # the CRD defaulted the weight
    apply_weights(store, exp, {"v1": 60, "v2": 40})
    rules = store.get(resource, kube_namespace, "reviews")["spec"]["rules"]
    assert [b["weight"] for b in rules[1]["backendRefs"]] == [60, 40]
    assert rules[0]["matches"][0]["headers"][0]["name"] == "x-canary"  # the test rule untouched


@pytest.mark.parametrize("named", ["v1beta1", "v1"])
def test_a_virtual_service_stored_as_v1alpha3_is_found_by_any_served_version(
    store: KubernetesStore, kube_namespace: str, named: str
) -> None:
    stored = {**virtual_service(ns=kube_namespace), "apiVersion": "networking.istio.io/v1alpha3"}
    store.create(Resource.from_api_version(stored["apiVersion"], "VirtualService"), stored)
    kind = (f"networking.istio.io/{named}", "VirtualService")
    exp = experiment(
        [
            ("v1", ref(kind, "bookinfo", ".spec.http[0].route[0].weight")),
            ("v2", ref(kind, "bookinfo", ".spec.http[0].route[1].weight")),
        ],
        ns=kube_namespace,
    )
    apply_weights(store, exp, {"v1": 25, "v2": 75})
    assert read_weights(store, exp) == {"v1": 25, "v2": 75}
