"""Objects that tasks wait for or apply, through the store (no kubectl).

`apply_documents` is "create, or replace what is there" — `kubectl replace` semantics rather
than `kubectl apply`'s three-way merge: a promotion manifest states the whole object. Server
owned fields (uid, status behind a status subresource) survive the replace.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from iter8.routing.objects import ObjectKey, resource_for
from iter8.security.namespaces import REFERENCE_NAMESPACES_ENV, reference_namespace_allowed
from iter8.store.base import AlreadyExists, Conflict, NotFound, Store
from iter8.tasks.base import TaskFailed

# kubectl's names for the kinds experiments use, for `objRefs` written without `apiVersion`.
KIND_ALIASES: dict[str, tuple[str, str]] = {
    "deployment": ("apps/v1", "Deployment"),
    "deploy": ("apps/v1", "Deployment"),
    "statefulset": ("apps/v1", "StatefulSet"),
    "sts": ("apps/v1", "StatefulSet"),
    "daemonset": ("apps/v1", "DaemonSet"),
    "ds": ("apps/v1", "DaemonSet"),
    "job": ("batch/v1", "Job"),
    "pod": ("v1", "Pod"),
    "po": ("v1", "Pod"),
    "service": ("v1", "Service"),
    "svc": ("v1", "Service"),
    "configmap": ("v1", "ConfigMap"),
    "cm": ("v1", "ConfigMap"),
    "secret": ("v1", "Secret"),
    "ksvc": ("serving.knative.dev/v1", "Service"),
    "service.serving.knative.dev": ("serving.knative.dev/v1", "Service"),
    "virtualservice": ("networking.istio.io/v1beta1", "VirtualService"),
    "vs": ("networking.istio.io/v1beta1", "VirtualService"),
    "trafficsplit": ("split.smi-spec.io/v1alpha2", "TrafficSplit"),
    "ts": ("split.smi-spec.io/v1alpha2", "TrafficSplit"),
    "inferenceservice": ("serving.kubeflow.org/v1beta1", "InferenceService"),
    "isvc": ("serving.kubeflow.org/v1beta1", "InferenceService"),
}

MAX_ATTEMPTS = 5


def api_version_of(kind: str, api_version: str | None) -> tuple[str, str]:
    """`(apiVersion, Kind)` for a reference that may give only a kubectl kind name."""
    if api_version:
        return api_version, kind
    alias = KIND_ALIASES.get(kind.lower())
    if alias is None:
        raise TaskFailed(f"kind {kind!r} needs an apiVersion (known short kinds: ksvc, deploy, …)")
    return alias


def key_of(document: Any, default_namespace: str) -> ObjectKey:
    if not isinstance(document, dict):
        raise TaskFailed(f"a manifest document must be an object, not {type(document).__name__}")
    meta = document.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    api_version, kind, name = document.get("apiVersion"), document.get("kind"), meta.get("name")
    if not (isinstance(api_version, str) and isinstance(kind, str) and isinstance(name, str)):
        raise TaskFailed("each manifest document needs apiVersion, kind and metadata.name")
    namespaced = resource_for(api_version, kind).namespaced
    namespace = (meta.get("namespace") or default_namespace) if namespaced else ""
    return ObjectKey(api_version, kind, namespace, name)


def check_reach(keys: Sequence[ObjectKey], owner_namespace: str, field: str) -> None:
    """Refuse objects of another namespace than the experiment's, unless the operator allows
    it (`iter8.security.namespaces`); cluster-scoped objects are left to RBAC."""
    for key in keys:
        if key.namespace and not reference_namespace_allowed(owner_namespace, key.namespace):
            raise TaskFailed(
                f"{field}: {key} is not in the experiment's namespace {owner_namespace!r}, and "
                f"no operator allowed {key.namespace!r} ({REFERENCE_NAMESPACES_ENV})"
            )


def apply_documents(store: Store, documents: Sequence[Any], default_namespace: str) -> list[str]:
    """Create or replace each document, in order; one line per object saying which."""
    done: list[str] = []
    for document in documents:
        key = key_of(document, default_namespace)
        obj = copy.deepcopy(document)
        if key.namespace:
            obj["metadata"]["namespace"] = key.namespace
        done.append(f"{_create_or_replace(store, key, obj)} {key}")
    return done


def _create_or_replace(store: Store, key: ObjectKey, obj: dict[str, Any]) -> str:
    resource = key.resource
    obj["metadata"].pop("resourceVersion", None)
    for _ in range(MAX_ATTEMPTS):
        try:
            current = store.get(resource, key.namespace, key.name)
        except NotFound:
            try:
                store.create(resource, obj)
            except AlreadyExists:
                continue  # someone created it meanwhile: replace it
            return "created"
        wanted = copy.deepcopy(obj)
        wanted["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        try:
            stored = store.replace(resource, wanted)
        except Conflict:
            continue
        except NotFound:
            continue  # deleted meanwhile: create it
        same = stored["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
        return "unchanged" if same else "replaced"
    raise TaskFailed(f"{key}: still changing under us after {MAX_ATTEMPTS} attempts")
