"""Objects of every kind the contract covers, written as a user would write them (valid under the
real CRD schemas, so the API server neither refuses nor prunes them)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iter8.store import EXPERIMENTS, METRICS, SECRETS, Resource
from iter8.store.resources import KNATIVE_SERVICES

Object = dict[str, Any]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def experiment(namespace: str, name: str) -> Object:
    """The Iter8 v2 Knative quickstart, trimmed to what the schema requires and a little more."""
    ref = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "sample-app"}
    return {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "target": f"{namespace}/sample-app",
            "strategy": {"testingPattern": "Canary", "deploymentPattern": "Progressive"},
            "criteria": {"objectives": [{"metric": "iter8-system/mean-latency", "upperLimit": 50}]},
            "duration": {"intervalSeconds": 1, "iterationsPerLoop": 1, "maxLoops": 3},
            "versionInfo": {
                "baseline": {
                    "name": "sample-app-v1",
                    "weightObjRef": {**ref, "fieldPath": ".spec.traffic[0].percent"},
                },
                "candidates": [
                    {
                        "name": "sample-app-v2",
                        "weightObjRef": {**ref, "fieldPath": ".spec.traffic[1].percent"},
                    }
                ],
            },
        },
    }


def metric(namespace: str, name: str) -> Object:
    return {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Metric",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "description": "Mean latency",
            "units": "milliseconds",
            "type": "Gauge",
            "provider": "prometheus",
            "params": [{"name": "query", "value": "mean_latency{version='$name'}"}],
            "jqExpression": ".data.result[0].value[1] | tonumber",
            "urlTemplate": "http://prometheus.example:9090/api/v1/query",
        },
    }


def secret(namespace: str, name: str) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {"token": b64("s3cret")},
    }


def knative_service(namespace: str, name: str) -> Object:
    """A Knative Service splitting traffic between two revisions: what an experiment routes."""
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": {
                "metadata": {"name": f"{name}-v2"},
                "spec": {"containers": [{"image": "ghcr.io/example/sample-app:v2"}]},
            },
            "traffic": [
                {"tag": "current", "revisionName": f"{name}-v1", "percent": 100},
                {"tag": "candidate", "latestRevision": True, "percent": 0},
            ],
        },
    }


@dataclass(frozen=True)
class Kind:
    """One kind of object under test and how to change what its user owns."""

    resource: Resource
    make: Callable[[str, str], Object]
    content: str  # the top-level field holding the user's content
    change: Object  # a merge patch of that content
    status: Object | None = None  # a valid `status` for kinds with a status subresource

    @property
    def counts_generations(self) -> bool:
        return self.resource.group != ""


KINDS: dict[str, Kind] = {
    "experiment": Kind(
        EXPERIMENTS,
        experiment,
        "spec",
        {"spec": {"duration": {"maxLoops": 5}}},
        {"stage": "Running", "completedIterations": 1, "message": "IterationUpdate: 1"},
    ),
    "metric": Kind(METRICS, metric, "spec", {"spec": {"description": "Mean latency (ms)"}}),
    "secret": Kind(SECRETS, secret, "data", {"data": {"token": b64("n3w")}}),
    "knative-service": Kind(
        KNATIVE_SERVICES,
        knative_service,
        "spec",
        {
            "spec": {
                "traffic": [
                    {"tag": "current", "revisionName": "sample-app-v1", "percent": 50},
                    {"tag": "candidate", "latestRevision": True, "percent": 50},
                ]
            }
        },
        {"observedGeneration": 1, "url": "http://sample-app.example.com"},
    ),
}
STATUS_KINDS = {key: kind for key, kind in KINDS.items() if kind.resource.status_subresource}
