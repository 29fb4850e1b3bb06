"""The demo's manifests: a Knative Service with two revisions and a canary experiment on it."""

from __future__ import annotations

from typing import Any

NAMESPACE = "default"
SERVICE = "demo-app"
BASELINE, CANDIDATE = "demo-app-v1", "demo-app-v2"


def knative_service(name: str = SERVICE, namespace: str = NAMESPACE) -> dict[str, Any]:
    """A Knative Service just after a new revision was deployed: `<name>-v1` takes all the
    traffic (tag `current`), `<name>-v2` none (tag `candidate`). The demo's, and what the tests
    and the stack benchmarks route."""
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": {"metadata": {"name": f"{name}-v2"}},
            "traffic": [
                {"tag": "current", "revisionName": f"{name}-v1", "percent": 100},
                {"tag": "candidate", "revisionName": f"{name}-v2", "percent": 0},
            ],
        },
    }


def knative_version_info(
    name: str = SERVICE, namespace: str = NAMESPACE, versions: tuple[str, str] = ("v1", "v2")
) -> dict[str, Any]:
    """`spec.versionInfo` for `knative_service(name, namespace)`: the baseline's weight is
    `spec.traffic[0].percent`, the candidate's `spec.traffic[1].percent`."""

    def ref(index: int) -> dict[str, Any]:
        return {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "name": name,
            "namespace": namespace,
            "fieldPath": f".spec.traffic[{index}].percent",
        }

    baseline, candidate = versions
    return {
        "baseline": {"name": baseline, "weightObjRef": ref(0)},
        "candidates": [{"name": candidate, "weightObjRef": ref(1)}],
    }


MOCK_METRIC = "latency"


def mock_metric(
    name: str = MOCK_METRIC,
    levels: dict[str, float] | None = None,
    namespace: str = NAMESPACE,
) -> dict[str, Any]:
    """A Gauge with mock levels per version (default v1 100, v2 50: v2 is better): fetching it
    costs no I/O, so an iteration on it is the code's own work (the stack benchmarks', the
    analyze function's rehearsal's, the tests')."""
    levels = {"v1": 100, "v2": 50} if levels is None else levels
    return {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Metric",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "Gauge",
            "mock": [{"name": v, "level": str(x)} for v, x in levels.items()],
        },
    }


def mock_canary(
    name: str, service: str, iterations: int, algorithm: str, namespace: str = NAMESPACE
) -> dict[str, Any]:
    """A Canary on `knative_service(service, namespace)` judged on `mock_metric()` in `namespace` by
    `algorithm`: `iterations` iterations one second apart, then promote."""
    return {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Experiment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"iter8.tools/algorithm": algorithm},
        },
        "spec": {
            "target": f"{namespace}/{service}",
            "strategy": {"testingPattern": "Canary"},
            "criteria": {
                "objectives": [{"metric": f"{namespace}/{MOCK_METRIC}", "upperLimit": 200}]
            },
            "duration": {"intervalSeconds": 1, "iterationsPerLoop": iterations, "maxLoops": 1},
            "versionInfo": knative_version_info(service, namespace),
        },
    }


def canary(
    urls: dict[str, str],
    interval_seconds: int = 2,
    max_loops: int = 30,
    version_info: dict[str, Any] | None = None,
    deployment_pattern: str = "Progressive",
) -> dict[str, Any]:
    """Built-in metrics from `metrics/collect` at the start of every loop (one iteration each);
    the error-rate objective rolls back on failure, so a bad candidate is pulled at once.
    `version_info` names where the weights live (default: the demo's Knative Service)."""
    return {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Experiment",
        "metadata": {"name": "demo", "namespace": NAMESPACE},
        "spec": {
            "target": f"{NAMESPACE}/{SERVICE}",
            "strategy": {
                "testingPattern": "Canary",
                "deploymentPattern": deployment_pattern,
                "weights": {"maxCandidateWeight": 100, "maxCandidateWeightIncrement": 20},
                "actions": {
                    "loop": [
                        {
                            "task": "metrics/collect",
                            "with": {
                                "versions": [{"name": v, "url": u} for v, u in urls.items()],
                                "numQueries": 60,
                                "qps": 60,
                            },
                        }
                    ],
                    "finish": [
                        {
                            "if": "CandidateWon()",
                            "run": "echo 'promoted @< .Status.VersionRecommendedForPromotion >@'",
                        },
                        {"if": "not CandidateWon()", "run": "echo 'kept the baseline'"},
                    ],
                },
            },
            "criteria": {
                "requestCount": "iter8-system/request-count",
                "objectives": [
                    {"metric": "iter8-system/mean-latency", "upperLimit": 100},
                    {"metric": "iter8-system/latency-95th-percentile", "upperLimit": 250},
                    {
                        "metric": "iter8-system/error-rate",
                        "upperLimit": "0.02",
                        "rollback_on_failure": True,
                    },
                ],
            },
            "duration": {
                "intervalSeconds": interval_seconds,
                "iterationsPerLoop": 1,
                "maxLoops": max_loops,
            },
            "versionInfo": version_info or knative_version_info(versions=(BASELINE, CANDIDATE)),
        },
    }
