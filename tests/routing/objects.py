"""Routing objects shaped like Iter8 v2's samples (knative-quickstart-experimentalservice.yaml,
the Istio bookinfo VirtualService, the Linkerd TrafficSplit) and experiments that route them."""

from __future__ import annotations

from typing import Any

from iter8.api.experiment import Experiment

Object = dict[str, Any]
KNATIVE = ("serving.knative.dev/v1", "Service")
ISTIO = ("networking.istio.io/v1beta1", "VirtualService")
SMI = ("split.smi-spec.io/v1alpha2", "TrafficSplit")


def knative_service(
    percents: tuple[int | None, ...] = (100, 0), name: str = "sample-app", ns: str = "default"
) -> Object:
    tags = ["current", "candidate", "latest"]
    traffic: list[Object] = []
    for index, percent in enumerate(percents):
        entry: Object = {"tag": tags[index]}
        if index == 0:
            entry["revisionName"] = f"{name}-v1"
        else:
            entry["latestRevision"] = True
        if percent is not None:
            entry["percent"] = percent
        traffic.append(entry)
    return {
        "apiVersion": KNATIVE[0],
        "kind": KNATIVE[1],
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "template": {
                "metadata": {"name": f"{name}-v2"},
                "spec": {"containers": [{"image": "gcr.io/knative-samples/knative-route-demo"}]},
            },
            "traffic": traffic,
        },
    }


def virtual_service(weights: tuple[int, ...] = (100, 0), ns: str = "bookinfo-iter8") -> Object:
    route = [
        {"destination": {"host": f"productpage-v{i + 1}", "port": {"number": 9080}}, "weight": w}
        for i, w in enumerate(weights)
    ]
    return {
        "apiVersion": ISTIO[0],
        "kind": ISTIO[1],
        "metadata": {"name": "bookinfo", "namespace": ns},
        "spec": {
            "gateways": ["bookinfo-gateway"],
            "hosts": ["bookinfo.example.com"],
            "http": [{"route": route}],
        },
    }


def traffic_split(weights: tuple[Any, ...] = (100, 0), ns: str = "test") -> Object:
    return {
        "apiVersion": SMI[0],
        "kind": SMI[1],
        "metadata": {"name": "web-split", "namespace": ns},
        "spec": {
            "service": "web",
            "backends": [{"service": f"web-v{i + 1}", "weight": w} for i, w in enumerate(weights)],
        },
    }


def ref(kind: tuple[str, str], name: str, field_path: str, ns: str | None = None) -> Object:
    out: Object = {"apiVersion": kind[0], "kind": kind[1], "name": name, "fieldPath": field_path}
    if ns is not None:
        out["namespace"] = ns
    return out


def experiment(
    versions: list[tuple[str, Object | None]],
    *,
    ns: str = "default",
    testing: str = "Canary",
    deployment: str = "Progressive",
) -> Experiment:
    """An experiment whose versions are `(name, weightObjRef or None)`, baseline first."""
    details = []
    for name, weight_ref in versions:
        detail: Object = {"name": name}
        if weight_ref is not None:
            detail["weightObjRef"] = weight_ref
        details.append(detail)
    return Experiment.from_wire(
        {
            "apiVersion": "iter8.tools/v2alpha2",
            "kind": "Experiment",
            "metadata": {"name": "exp", "namespace": ns},
            "spec": {
                "target": f"{ns}/app",
                "strategy": {"testingPattern": testing, "deploymentPattern": deployment},
                "versionInfo": {"baseline": details[0], "candidates": details[1:]},
            },
        }
    )


def knative_experiment(ns: str = "default", ref_ns: str | None = "default") -> Experiment:
    """The Knative quickstart's versionInfo: both versions in one Service."""
    return experiment(
        [
            ("sample-app-v1", ref(KNATIVE, "sample-app", ".spec.traffic[0].percent", ref_ns)),
            ("sample-app-v2", ref(KNATIVE, "sample-app", ".spec.traffic[1].percent", ref_ns)),
        ],
        ns=ns,
    )


KSERVE = ("serving.kserve.io/v1beta1", "InferenceService")
KFSERVING = ("serving.kubeflow.org/v1beta1", "InferenceService")
GATEWAY = ("gateway.networking.k8s.io/v1", "HTTPRoute")


def inference_service(
    canary: int | None = 0, kind: tuple[str, str] = KSERVE, ns: str = "default"
) -> Object:
    """Shaped like KServe's sklearn-iris sample (KFServing's when `kind` is KFSERVING)."""
    predictor: Object = {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://m/2"}}
    if kind == KFSERVING:
        predictor = {"sklearn": {"storageUri": "gs://kfserving-samples/models/sklearn/iris"}}
    if canary is not None:
        predictor["canaryTrafficPercent"] = canary
    return {
        "apiVersion": kind[0],
        "kind": kind[1],
        "metadata": {"name": "sklearn-iris", "namespace": ns},
        "spec": {"predictor": predictor},
    }


def isvc_status(ready: str = "True", created: str = "iris-2", latest: str = "iris-2") -> Object:
    """What KServe's controller writes once the new revision serves (or not)."""
    return {
        "conditions": [{"type": "Ready", "status": ready}],
        "components": {
            "predictor": {"latestCreatedRevision": created, "latestReadyRevision": latest}
        },
    }


def http_route(weights: tuple[int | None, ...] = (100, 0), ns: str = "default") -> Object:
    """Shaped like Gateway API's reviews sample: a header-matched test rule, then the split."""
    backends: list[Object] = []
    for index, weight in enumerate(weights):
        backend: Object = {"name": f"reviews-v{index + 1}", "port": 9080}
        if weight is not None:
            backend["weight"] = weight
        backends.append(backend)
    return {
        "apiVersion": GATEWAY[0],
        "kind": GATEWAY[1],
        "metadata": {"name": "reviews", "namespace": ns},
        "spec": {
            "parentRefs": [{"name": "demo-gw"}],
            "rules": [
                {
                    "matches": [{"headers": [{"name": "x-canary", "value": "true"}]}],
                    "backendRefs": [{"name": "reviews-v2", "port": 9080}],
                },
                {"backendRefs": backends},
            ],
        },
    }
