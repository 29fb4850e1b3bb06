"""`iter8 bench analyze`: the cost of one analysis step, as the analyze function pays it.

Two shapes: 2 versions × 4 metrics (error rate, p95 latency from a histogram, mean latency,
conversion as the reward) and 10 versions × 10 metrics (A/B/N; five latency percentiles, mean
latency, three rates as objectives, conversion as the reward). Each step starts from a status
that holds three earlier analyses, as mid-experiment. Time is wall clock per call (median, p99)
after a warm-up; memory is tracemalloc's peak during one call, measured on its own.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.scenarios import EDGES, Latency
from iter8.analytics.algorithm import Algorithm, AnalysisInput
from iter8.analytics.observations import Bucket, Histogram, Observation, Observations
from iter8.api.defaults import with_defaults
from iter8.api.experiment import Analysis, Experiment, ExperimentStatus, VersionWeight
from iter8.api.metric import Metric

NS = "speed"
PERCENTILES = ("50th", "75th", "90th", "95th", "99th")


@dataclass(frozen=True)
class Shape:
    name: str
    versions: int
    metrics: list[tuple[str, str]]  # (name, kind): kind in rate, percentile, mean
    objectives: dict[str, float]  # metric → upper limit
    reward: str


SHAPES = (
    Shape(
        "2 versions × 4 metrics",
        2,
        [
            ("error-rate", "rate"),
            ("latency-95th-percentile", "percentile"),
            ("mean-latency", "mean"),
            ("conversion-rate", "rate"),
        ],
        {"error-rate": 0.01, "latency-95th-percentile": 250, "mean-latency": 150},
        "conversion-rate",
    ),
    Shape(
        "10 versions × 10 metrics",
        10,
        [
            ("error-rate", "rate"),
            ("timeout-rate", "rate"),
            ("retry-rate", "rate"),
            *[(f"latency-{p}-percentile", "percentile") for p in PERCENTILES],
            ("mean-latency", "mean"),
            ("conversion-rate", "rate"),
        ],
        {
            "error-rate": 0.01,
            "timeout-rate": 0.01,
            "retry-rate": 0.05,
            "latency-95th-percentile": 250,
            "latency-99th-percentile": 600,
            "mean-latency": 150,
        },
        "conversion-rate",
    ),
)


def experiment(shape: Shape) -> Experiment:
    names = [f"v{i + 1}" for i in range(shape.versions)]
    manifest: dict[str, Any] = {
        "metadata": {"name": "speed", "namespace": NS},
        "spec": {
            "target": f"{NS}/app",
            "strategy": {"testingPattern": "A/B" if shape.versions == 2 else "A/B/N"},
            "criteria": {
                "requestCount": f"{NS}/request-count",
                "rewards": [{"metric": f"{NS}/{shape.reward}", "preferredDirection": "High"}],
                "objectives": [
                    {"metric": f"{NS}/{m}", "upperLimit": str(v)}
                    for m, v in shape.objectives.items()
                ],
                "indicators": [
                    f"{NS}/{m}"
                    for m, _ in shape.metrics
                    if m not in shape.objectives and m != shape.reward
                ],
            },
            "duration": {"iterationsPerLoop": 20},
            "versionInfo": {
                "baseline": {"name": names[0]},
                "candidates": [{"name": n} for n in names[1:]],
            },
        },
    }
    return with_defaults(Experiment.from_wire(manifest))


def metric_definitions(shape: Shape) -> dict[str, Metric]:
    result = {f"{NS}/request-count": {"type": "Counter"}}
    for name, _ in shape.metrics:
        result[f"{NS}/{name}"] = {"type": "Gauge", "sampleSize": f"{NS}/request-count"}
    return {
        key: Metric.from_wire({"metadata": {"name": key.split("/")[1], "namespace": NS}, "spec": s})
        for key, s in result.items()
    }


def observations(shape: Shape, served: list[int], rng: np.random.Generator) -> Observations:
    """Cumulative data: `served[v]` requests to version v so far."""
    latency = Latency(p95=180.0)
    result: Observations = {f"{NS}/request-count": {}}
    for v in range(shape.versions):
        name, n = f"v{v + 1}", served[v]
        result[f"{NS}/request-count"][name] = Observation(value=n)
        counts = rng.multinomial(n, latency.bucket_probabilities)
        histogram = Histogram(
            buckets=[
                Bucket(lower=lo, upper=up, count=c)
                for lo, up, c in zip(EDGES[:-1], EDGES[1:], counts, strict=True)
            ]
        )
        for metric, kind in shape.metrics:
            key = f"{NS}/{metric}"
            if kind == "rate":
                rate = 0.1 if metric == shape.reward else 0.005
                value = rng.binomial(n, rate) / n if n else 0.0
                result.setdefault(key, {})[name] = Observation(value=value)
            elif kind == "mean":
                result.setdefault(key, {})[name] = Observation(value=95.0, histogram=histogram)
            else:
                result.setdefault(key, {})[name] = Observation(value=180.0, histogram=histogram)
    return result


def _inputs(algorithm: Algorithm, shape: Shape, seed: int) -> AnalysisInput:
    """The fourth step of an experiment: status from three earlier steps, 2,000 requests an
    interval split as the steps said (evenly in the first): a split the data do not follow
    is a sample-ratio mismatch, which skips part of a step."""
    base, metrics = experiment(shape), metric_definitions(shape)
    rng = np.random.default_rng(seed)
    exp, previous = base, None
    served = [0] * shape.versions
    split = [100 / shape.versions] * shape.versions
    for iteration in range(1, 5):
        served = [n + round(20 * w) for n, w in zip(served, split, strict=True)]
        given = AnalysisInput(exp, metrics, observations(shape, served, rng), seed + iteration)
        if iteration == 4:
            return given
        previous = algorithm.analyze(given)
        by_name = {w.name: w.value for w in previous.weights}
        split = [by_name.get(f"v{v + 1}", 0) for v in range(shape.versions)] if by_name else split
        status = ExperimentStatus(
            completed_iterations=iteration,
            current_weight_distribution=[
                VersionWeight(name=w.name, value=w.value) for w in previous.weights
            ]
            or None,
            analysis=Analysis(details=previous.details),
        )
        exp = base.model_copy(update={"status": status})
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Timing:
    algorithm: str
    shape: str
    calls: int
    median_ms: float
    p99_ms: float
    peak_kib: float


def measure(algorithm: Algorithm, shape: Shape, calls: int) -> Timing:
    given = _inputs(algorithm, shape, seed=11)
    for _ in range(min(20, calls)):
        algorithm.analyze(given)
    durations = []
    for _ in range(calls):
        start = time.perf_counter()
        algorithm.analyze(given)
        durations.append(time.perf_counter() - start)
    tracemalloc.start()
    algorithm.analyze(given)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Timing(
        algorithm.name,
        shape.name,
        calls,
        1000 * statistics.median(durations),
        1000 * float(np.percentile(durations, 99)),
        peak / 1024,
    )
