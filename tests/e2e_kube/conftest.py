"""The routing CRDs the end-to-end tests need on the API server: the real Knative Service CRD
and a small structural VirtualService CRD of our own (the real Istio one is not needed to hold
`spec.http[].route[].weight`)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.compat import knative_crd
from tests.kube import apply_crds, load_yaml

PRESERVE: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

VIRTUAL_SERVICE_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "virtualservices.networking.istio.io"},
    "spec": {
        "group": "networking.istio.io",
        "scope": "Namespaced",
        "names": {
            "kind": "VirtualService",
            "listKind": "VirtualServiceList",
            "plural": "virtualservices",
            "singular": "virtualservice",
            "shortNames": ["vs"],
        },
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {"spec": PRESERVE, "status": PRESERVE},
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="session")
def routing_crds(kube_client: client.ApiClient, iter8_crds: list[str]) -> list[str]:
    """Iter8's CRDs, the real Knative Service CRD and our VirtualService CRD, Established."""
    docs = [*load_yaml(knative_crd("serving-service.yaml")), VIRTUAL_SERVICE_CRD]
    return [*iter8_crds, *apply_crds(kube_client, docs)]
