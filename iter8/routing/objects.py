"""Object references (`weightObjRef`, `objRefs`, manifests) → the store's `Resource` and a key."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from iter8.store.resources import (
    EXPERIMENTS,
    ISTIO_VIRTUAL_SERVICES,
    KNATIVE_SERVICES,
    METRICS,
    NAMESPACES,
    SECRETS,
    SMI_TRAFFIC_SPLITS,
    Resource,
)

_KNOWN = {
    (r.api_version, r.kind): r
    for r in (
        EXPERIMENTS,
        METRICS,
        SECRETS,
        NAMESPACES,
        KNATIVE_SERVICES,
        ISTIO_VIRTUAL_SERVICES,
        SMI_TRAFFIC_SPLITS,
    )
}

# Kinds the API server serves without a namespace (the ones a promotion manifest may hold).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "IngressClass",
        "RuntimeClass",
    }
)

# Kinds with no status subresource, so that the embedded store keeps a `status` they are given.
_NO_STATUS = frozenset({"ConfigMap", "Secret", "ServiceAccount", "Role", "RoleBinding"})


def resource_for(api_version: str, kind: str) -> Resource:
    """The Resource an `apiVersion` + `kind` names; the project's own table first, then the API
    server's naming rules."""
    known = _KNOWN.get((api_version, kind))
    if known is not None:
        return known
    group = api_version.rpartition("/")[0]
    resource = Resource.from_api_version(
        api_version,
        kind,
        status_subresource=kind not in _NO_STATUS and group != "split.smi-spec.io",
    )
    if kind in CLUSTER_SCOPED:
        resource = dataclasses.replace(resource, namespaced=False)
    return resource


class ObjectKey(NamedTuple):
    """Which object: enough to find it in a store, hashable to group versions by it."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def resource(self) -> Resource:
        return resource_for(self.api_version, self.kind)

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind}.{self.api_version} {where}"
