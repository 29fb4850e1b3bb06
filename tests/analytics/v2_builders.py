"""Small experiments and observations for the analytics tests, and one way to chain iterations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from iter8.analytics.algorithm import AnalysisInput, AnalysisResult
from iter8.analytics.algorithms.iter8_v2 import ALGORITHM
from iter8.analytics.observations import Observation, Observations
from iter8.api.defaults import with_defaults
from iter8.api.experiment import Experiment

NAMESPACE = "shop"
Values = Mapping[str, Mapping[str, float | None]]


def experiment(
    pattern: str = "Canary",
    versions: Sequence[str] = ("v1", "v2"),
    objectives: Sequence[dict[str, Any]] = (),
    rewards: Sequence[dict[str, Any]] = (),
    deployment: str | None = None,
    weights: dict[str, int] | None = None,
    iterations: int = 15,
    status: dict[str, Any] | None = None,
) -> Experiment:
    strategy: dict[str, Any] = {"testingPattern": pattern}
    if deployment:
        strategy["deploymentPattern"] = deployment
    if weights:
        strategy["weights"] = weights
    baseline, *candidates = versions
    spec: dict[str, Any] = {
        "target": "shop/app",
        "strategy": strategy,
        "criteria": {"objectives": list(objectives), "rewards": list(rewards)},
        "duration": {"iterationsPerLoop": iterations, "maxLoops": 1},
        "versionInfo": {
            "baseline": {"name": baseline},
            "candidates": [{"name": c} for c in candidates],
        },
    }
    manifest: dict[str, Any] = {"metadata": {"name": "exp", "namespace": NAMESPACE}, "spec": spec}
    if status is not None:
        manifest["status"] = status
    return Experiment.from_wire(manifest)


def observations(values: Values) -> Observations:
    """`None` is a version the backend had no data for."""
    return {
        key: {
            version: Observation(value=v) if v is not None else Observation(outcome="no-data")
            for version, v in per_version.items()
        }
        for key, per_version in values.items()
    }


def analyze(exp: Experiment, values: Values, seed: int = 0) -> AnalysisResult:
    return ALGORITHM.analyze(AnalysisInput(with_defaults(exp), {}, observations(values), seed))


def next_iteration(exp: Experiment, result: AnalysisResult) -> Experiment:
    """What the controller does between iterations: apply the weights (Progressive), keep the
    analysis, count the iteration."""
    status = exp.status.to_wire() if exp.status else {}
    if result.weights:
        status["currentWeightDistribution"] = [w.to_wire() for w in result.weights]
    status["analysis"] = {"aggregatedMetrics": {"data": result.aggregated_metrics}}
    status["completedIterations"] = status.get("completedIterations", 0) + 1
    return Experiment.from_wire({**exp.to_wire(), "status": status})


def weights_of(result: AnalysisResult) -> dict[str, int]:
    return {w.name: w.value for w in result.weights}


def latency_objective(limit: float = 50, **extra: Any) -> dict[str, Any]:
    return {"metric": "shop/latency", "upperLimit": limit, **extra}
