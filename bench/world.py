"""The simulated system under experiment: aggregated counts per iteration, never single requests.

Each iteration routes `traffic` requests by the weights in force (a multinomial split), then per
version draws errors and conversions (binomial) and a latency histogram (multinomial over the
buckets). Metrics are cumulative since the start, as Iter8 queries them; each (metric, version)
query fails with probability `drop` and is then reported as an error, as a flaky backend would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.scenarios import EDGES, P95_LIMIT, Scenario
from iter8.analytics.observations import Bucket, Histogram, Observation, Observations
from iter8.api.metric import Metric

NAMESPACE = "bench"
REQUESTS = f"{NAMESPACE}/request-count"
ERRORS = f"{NAMESPACE}/error-rate"
P95 = f"{NAMESPACE}/latency-95th-percentile"
CONVERSION = f"{NAMESPACE}/conversion-rate"
LIMIT_INDEX = EDGES.index(P95_LIMIT)  # buckets from here on are above the p95 limit
_LOWERS = np.array(EDGES[:-1], dtype=float)
_UPPERS = np.array(EDGES[1:], dtype=float)


@dataclass
class Snapshot:
    """What the metrics backend would answer now; None where a query failed."""

    requests: list[float | None]
    errors: list[float | None]  # counts
    conversions: list[float | None]  # counts
    histograms: list[np.ndarray | None]  # bucket counts


class World:
    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        self.scenario = scenario
        self.rng = rng
        size = len(scenario.arms)
        self.requests = np.zeros(size)
        self.errors = np.zeros(size)
        self.conversions = np.zeros(size)
        self.histograms = np.zeros((size, len(EDGES) - 1))
        self._errors = np.array([a.error for a in scenario.arms])
        self._conversions = np.array([a.conversion for a in scenario.arms])
        self._buckets = np.array([a.latency.bucket_probabilities for a in scenario.arms])

    def serve(self, weights: Sequence[int], intervals: int = 1) -> np.ndarray:
        """`intervals` intervals of traffic at `weights` (percent), drawn at once (a sum of
        multinomials with one split is one multinomial); returns requests per version."""
        share = np.asarray(weights, dtype=float)
        share = share / share.sum()
        served = self.rng.multinomial(self.scenario.traffic * intervals, share).astype(float)
        self.requests += served
        self.errors += self.rng.binomial(served.astype(np.int64), self._errors)
        self.conversions += self.rng.binomial(served.astype(np.int64), self._conversions)
        for i, n in enumerate(served):
            if n > 0:
                self.histograms[i] += self.rng.multinomial(int(n), self._buckets[i])
        return served

    def snapshot(self) -> Snapshot:
        drop = self.scenario.drop
        size = len(self.requests)
        lost = self.rng.random((4, size)) < drop if drop > 0 else np.zeros((4, size), dtype=bool)

        def keep(row: int, values: np.ndarray) -> list[float | None]:
            return [None if lost[row, i] else float(values[i]) for i in range(size)]

        histograms = [None if lost[3, i] else self.histograms[i].copy() for i in range(size)]
        return Snapshot(
            keep(0, self.requests), keep(1, self.errors), keep(2, self.conversions), histograms
        )


def p95_of(counts: np.ndarray) -> float:
    """The 95th percentile of a histogram, interpolated inside its bucket (as Prometheus does)."""
    total = counts.sum()
    if total <= 0:
        return float("nan")
    cumulative = np.cumsum(counts) / total
    index = min(int(np.searchsorted(cumulative, 0.95)), len(counts) - 1)
    before = cumulative[index - 1] if index > 0 else 0.0
    inside = cumulative[index] - before
    fraction = (0.95 - before) / inside if inside > 0 else 0.0
    return float(_LOWERS[index] + fraction * (_UPPERS[index] - _LOWERS[index]))


def observations(snapshot: Snapshot, names: Sequence[str]) -> Observations:
    """The snapshot as the analysis receives it: one Observation per metric and version."""
    failed = Observation.model_construct(outcome="error", value=None, sample_size=None,
                                         histogram=None, message="query failed")  # fmt: skip
    result: Observations = {REQUESTS: {}, ERRORS: {}, P95: {}, CONVERSION: {}}
    for i, name in enumerate(names):
        n = snapshot.requests[i]
        result[REQUESTS][name] = failed if n is None else _value(n, None)
        for key, counts in ((ERRORS, snapshot.errors[i]), (CONVERSION, snapshot.conversions[i])):
            if counts is None or n is None or n == 0:
                result[key][name] = failed if counts is None or n is None else _nodata()
            else:
                result[key][name] = _value(counts / n, None)  # n: the sampleSize metric
        histogram = snapshot.histograms[i]
        if histogram is None:
            result[P95][name] = failed
        elif histogram.sum() == 0:
            result[P95][name] = _nodata()
        else:
            result[P95][name] = Observation.model_construct(
                outcome="ok",
                value=p95_of(histogram),
                sample_size=float(histogram.sum()),
                histogram=_histogram(histogram),
                message=None,
            )
    return result


def metric_definitions() -> dict[str, Metric]:
    """The Metric documents of the bench: rates name their sample size, as Iter8 v2's did."""
    documents = {
        REQUESTS: {"type": "Counter"},
        ERRORS: {"type": "Gauge", "sampleSize": REQUESTS},
        P95: {"type": "Gauge", "sampleSize": REQUESTS, "units": "msec"},
        CONVERSION: {"type": "Gauge", "sampleSize": REQUESTS},
    }
    return {
        key: Metric.from_wire(
            {"metadata": {"name": key.split("/")[1], "namespace": NAMESPACE}, "spec": spec}
        )
        for key, spec in documents.items()
    }


def _value(value: float, n: float | None) -> Observation:
    return Observation.model_construct(
        outcome="ok", value=float(value), sample_size=n, histogram=None, message=None
    )


def _nodata() -> Observation:
    return Observation.model_construct(
        outcome="no-data", value=None, sample_size=None, histogram=None, message="no requests yet"
    )


def _histogram(counts: np.ndarray) -> Histogram:
    buckets = [
        Bucket.model_construct(lower=float(lo), upper=float(up), count=float(c))
        for lo, up, c in zip(_LOWERS, _UPPERS, counts, strict=True)
    ]
    return Histogram.model_construct(buckets=buckets)
