"""The routing CRDs the end-to-end tests need on the API server, all real: Knative Service, Istio
VirtualService and DestinationRule (1.30.3: v1, v1beta1, v1alpha3 served), Gateway API HTTPRoute
(v1.6.1 experimental channel, a superset of standard that has `sessionPersistence`), KServe
InferenceService (v0.20.0) and KFServing's (v0.6.0, Iter8 v2's era). The shared folder's README
says where each comes from and what was adapted to load on Kubernetes 1.20."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from kubernetes import client

from iter8.store.base import AlreadyExists
from iter8.store.kubernetes import KubernetesStore
from iter8.store.resources import Resource
from tests.compat import SHARED, _shared, knative_crd
from tests.kube import CRDS, _wait_established, apply_crds, load_yaml

CRD_DIR = SHARED / "crds"
ISTIO_CRDS = (
    "istio/k8s-1.20-adapted.istio-1.30.3.virtualservices.networking.istio.io.yaml",
    "istio/k8s-1.20-adapted.istio-1.30.3.destinationrules.networking.istio.io.yaml",
)
TRAFFIC_CRDS = (
    "gateway-api/k8s-1.20-adapted.v1.6.1.experimental.gateway.networking.k8s.io_httproutes.yaml",
    "kserve/k8s-1.20-adapted.v0.20.0.serving.kserve.io_inferenceservices.yaml",
    "kserve/original.kfserving-v0.6.0.install-bundle.serving.kubeflow.org_inferenceservices.yaml",
)
CRDS_V1BETA1 = Resource(
    CRDS.group, "v1beta1", CRDS.plural, CRDS.kind, namespaced=False, status_subresource=True
)


def shared_crds(paths: tuple[str, ...]) -> list[dict[str, Any]]:
    return [doc for path in paths for doc in load_yaml(_shared(CRD_DIR / path, "shared CRDs"))]


def install(api: client.ApiClient, documents: list[dict[str, Any]]) -> list[str]:
    """`apply_crds`, plus the apiextensions v1beta1 CRDs of KFServing's era (1.20 serves both)."""
    old = [d for d in documents if d["apiVersion"] == "apiextensions.k8s.io/v1beta1"]
    names = apply_crds(api, [d for d in documents if d not in old])
    store = KubernetesStore(api)
    for doc in old:
        with contextlib.suppress(AlreadyExists):
            store.create(CRDS_V1BETA1, doc)
        _wait_established(store, doc["metadata"]["name"])
        names.append(doc["metadata"]["name"])
    return names


@pytest.fixture(scope="session")
def routing_crds(kube_client: client.ApiClient, iter8_crds: list[str]) -> list[str]:
    """Iter8's CRDs, the real Knative Service CRD and the real Istio CRDs, Established."""
    docs = [*load_yaml(knative_crd("serving-service.yaml")), *shared_crds(ISTIO_CRDS)]
    return [*iter8_crds, *install(kube_client, docs)]


@pytest.fixture(scope="session")
def traffic_crds(kube_client: client.ApiClient, routing_crds: list[str]) -> list[str]:
    """`routing_crds` plus the real HTTPRoute, InferenceService and KFServing CRDs."""
    return [*routing_crds, *install(kube_client, shared_crds(TRAFFIC_CRDS))]
