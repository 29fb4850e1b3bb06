"""Manifests for the end-to-end tests: routed objects, metrics and experiments, as plain dicts
shaped like Iter8 v2's samples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Object = dict[str, Any]
KNATIVE = ("serving.knative.dev/v1", "Service")
ISTIO = ("networking.istio.io/v1beta1", "VirtualService")
ALGORITHM = "iter8.tools/algorithm"


def knative_service(name: str, percents: Sequence[int], namespace: str = "default") -> Object:
    """A Knative Service whose `spec.traffic[i]` is version i's split."""
    traffic = [
        {"tag": f"v{i + 1}", "revisionName": f"{name}-v{i + 1}", "percent": p}
        for i, p in enumerate(percents)
    ]
    return {
        "apiVersion": KNATIVE[0],
        "kind": KNATIVE[1],
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": {"metadata": {"name": f"{name}-v{len(percents)}"}},
            "traffic": traffic,
        },
    }


def virtual_service(
    name: str, weights: Sequence[int], namespace: str = "default", api_version: str = ISTIO[0]
) -> Object:
    """An Istio VirtualService with one HTTP route per version, `route[i].weight` its split."""
    route = [
        {"destination": {"host": f"{name}-v{i + 1}", "port": {"number": 9080}}, "weight": w}
        for i, w in enumerate(weights)
    ]
    return {
        "apiVersion": api_version,
        "kind": ISTIO[1],
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hosts": [f"{name}.example.com"], "http": [{"route": route}]},
    }


def knative_ref(name: str, index: int, namespace: str = "default") -> Object:
    return {
        "apiVersion": KNATIVE[0],
        "kind": KNATIVE[1],
        "name": name,
        "namespace": namespace,
        "fieldPath": f".spec.traffic[{index}].percent",
    }


def istio_ref(name: str, index: int, namespace: str = "default") -> Object:
    return {
        "apiVersion": ISTIO[0],
        "kind": ISTIO[1],
        "name": name,
        "namespace": namespace,
        "fieldPath": f".spec.http[0].route[{index}].weight",
    }


def mock_metric(
    name: str, levels: Mapping[str, float], kind: str = "Gauge", namespace: str = "default"
) -> Object:
    """A mocked metric (Iter8 v2 §2.4): a Gauge is `2·level·Beta(t, t)`, a Counter `level·t`."""
    return {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Metric",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": kind, "mock": [{"name": v, "level": str(x)} for v, x in levels.items()]},
    }


def version(name: str, ref: Object | None = None) -> Object:
    return {"name": name, **({"weightObjRef": ref} if ref is not None else {})}


def experiment(
    name: str,
    pattern: str,
    versions: Sequence[Object],
    *,
    criteria: Object | None = None,
    actions: Mapping[str, list[Object]] | None = None,
    algorithm: str | None = None,
    iterations: int = 3,
    loops: int = 1,
    namespace: str = "default",
    target: str | None = None,
) -> Object:
    """An Experiment with 1-second iterations; `algorithm` None means the default (bayesian)."""
    metadata: Object = {"name": name, "namespace": namespace}
    if algorithm is not None:
        metadata["annotations"] = {ALGORITHM: algorithm}
    spec: Object = {
        "target": target or f"{namespace}/{name}",
        "strategy": {"testingPattern": pattern, "actions": dict(actions or {})},
        "duration": {"intervalSeconds": 1, "iterationsPerLoop": iterations, "maxLoops": loops},
        "versionInfo": {"baseline": versions[0], "candidates": list(versions[1:])},
    }
    if criteria is not None:
        spec["criteria"] = criteria
    return {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Experiment",
        "metadata": metadata,
        "spec": spec,
    }


def collect(urls: Mapping[str, str], queries: int = 40) -> Object:
    """A `metrics/collect` task: `queries` requests to each version, as fast as 4 clients go."""
    targets = [{"name": name, "url": url} for name, url in urls.items()]
    return {
        "task": "metrics/collect",
        "with": {"versions": targets, "numQueries": queries, "qps": 0},
    }
