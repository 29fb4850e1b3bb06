"""Iter8's built-in metrics (provider `iter8`, iter8-v2.md §2.5), from what `metrics/collect` measured.

Latency observations keep their histogram (in ms): a percentile read from 100 requests is not
the same evidence as one read from 10 000, and the analysis needs to know which it has. Iter8 v2
drew a synthetic sample per bucket to get percentiles; interpolating within the buckets gives
the same numbers without randomness.
"""

from __future__ import annotations

from typing import ClassVar

from iter8.analytics.observations import Bucket, Histogram, Observation
from iter8.api.metric import Metric
from iter8.metrics.builtin_data import DurationHistogram
from iter8.metrics.provider import FetchFailed, FetchRequest

PERCENTILES = {f"latency-{q}th-percentile": float(q) for q in (50, 75, 90, 95, 99)}
NAMES = ("request-count", "error-count", "error-rate", "mean-latency", *PERCENTILES)


class BuiltinProvider:
    name: ClassVar[str] = "iter8"
    priority: ClassVar[int] = 90
    io: ClassVar[bool] = False

    def matches(self, metric: Metric) -> bool:
        return metric.spec.provider == self.name

    def fetch(self, request: FetchRequest) -> Observation:
        metric, version = request.metric.metadata.name or "", request.version.name
        if metric not in NAMES:
            raise FetchFailed("error", f"{metric!r} is not a built-in metric ({', '.join(NAMES)})")
        data = request.builtin.get(version) if request.builtin is not None else None
        if data is None:
            raise FetchFailed("no-data", f"metrics/collect has sent no requests to {version!r}")
        durations = data.duration_histogram
        n = durations.count
        if metric == "request-count":
            return Observation(value=n)
        if metric == "error-count":
            return Observation(value=data.errors)
        if n == 0:
            raise FetchFailed("no-data", f"no requests to {version!r} were recorded")
        if metric == "error-rate":
            return Observation(value=data.errors / n, sample_size=n)
        histogram = latency_histogram(durations)
        if metric == "mean-latency":
            return Observation(value=1000 * durations.sum / n, sample_size=n, histogram=histogram)
        if histogram.count == 0:
            raise FetchFailed("no-data", f"no latency buckets were recorded for {version!r}")
        value = percentile(histogram, PERCENTILES[metric])
        return Observation(value=value, sample_size=n, histogram=histogram)


def latency_histogram(durations: DurationHistogram) -> Histogram:
    """The buckets in milliseconds, narrowed to the observed min and max."""
    low = durations.min if durations.min is not None else 0.0
    high = durations.max if durations.max > 0 else float("inf")
    buckets = []
    for b in sorted(durations.data, key=lambda b: (b.start, b.end)):
        lower = max(b.start, low)
        upper = max(min(b.end, high), lower)
        buckets.append(Bucket(lower=1000 * lower, upper=1000 * upper, count=b.count))
    return Histogram(buckets=buckets)


def percentile(histogram: Histogram, q: float) -> float:
    """The q-th percentile, interpolating linearly inside the bucket that holds it."""
    rank = q / 100 * histogram.count
    below = 0.0
    for bucket in histogram.buckets:
        if bucket.count > 0 and below + bucket.count >= rank:
            share = (rank - below) / bucket.count
            return bucket.lower + (bucket.upper - bucket.lower) * share
        below += bucket.count
    return histogram.buckets[-1].upper


PROVIDER = BuiltinProvider()
