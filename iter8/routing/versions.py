"""Served versions of the routing kinds: a reference by any served version finds the object.

An API server serves one stored object under every version its CRD marks `served` (Iter8 v2's
Istio samples name a VirtualService `v1beta1` that was created as `v1alpha3`). The embedded
store keys objects by resource, version included, and an API server whose CRD no longer serves
the referenced version answers 404; so an object not found at the version named is looked up at
the kind's other served versions, in this order. The table holds the served versions of the real
CRDs (Istio 1.22 and 1.30, Gateway API v1.6.1, KServe v0.8 and v0.20, KFServing v0.6, Knative
Serving 1.x and its retired v1alpha1/v1beta1).
"""

from __future__ import annotations

SERVED: dict[tuple[str, str], tuple[str, ...]] = {
    ("networking.istio.io", "VirtualService"): ("v1", "v1beta1", "v1alpha3"),
    ("networking.istio.io", "DestinationRule"): ("v1", "v1beta1", "v1alpha3"),
    ("gateway.networking.k8s.io", "HTTPRoute"): ("v1", "v1beta1"),
    ("serving.kserve.io", "InferenceService"): ("v1beta1",),
    ("serving.kubeflow.org", "InferenceService"): ("v1beta1", "v1alpha2"),
    ("serving.knative.dev", "Service"): ("v1", "v1beta1", "v1alpha1"),
    ("serving.knative.dev", "Route"): ("v1", "v1beta1", "v1alpha1"),
}


def served_api_versions(api_version: str, kind: str) -> list[str]:
    """Where to look for an object referenced as `api_version`: that version first, then the
    kind's other served versions. A version the kind's CRD never served is looked up as named
    only (it stays NotFound, as on an API server)."""
    group, _, version = api_version.rpartition("/")
    served = SERVED.get((group, kind), ())
    if version not in served:
        return [api_version]
    return [api_version] + [f"{group}/{v}" for v in served if v != version]
