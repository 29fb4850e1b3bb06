"""Prometheus's `/api/v1/query`, through the same templated query as any REST metric.

Chosen for `provider: prometheus` or a urlTemplate whose path ends with `/api/v1/query`. Beyond
the REST provider it tells an empty result vector (no series matched: "empty") from a number,
and keeps Prometheus's own error type (`timeout` → "timeout").

Histograms. A Metric asks for the distribution behind its value with two more `params` (plain
`{name, value}` pairs, so the Metric stays valid for the Iter8 v2 CRD):

* `histogramQuery`: PromQL giving the cumulative count per `le` bucket, templated like any
  param, e.g. `sum by (le) (increase(request_duration_seconds_bucket{revision="$name"}[${elapsedTime}s]))`;
* `histogramScale` (optional, default 1): multiplies the bucket bounds, e.g. `1000` when `le` is
  in seconds and the metric's value in milliseconds.

Neither is sent with the main query: `query` and `jqExpression` still give the value. A second
query (the other params, such as `time`, kept) fetches the buckets, which come back as a
`Histogram` of non-cumulative buckets `(previous le, le]`, and `sample_size` is their total. The
`+Inf` bucket, when it holds anything, becomes a point at the highest finite bound (the same
convention as `histogram_quantile`). If only the histogram fails, the value comes back alone and
the message says why.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlsplit

from iter8.analytics.observations import Bucket, Histogram, Observation
from iter8.api.metric import Metric
from iter8.metrics import query
from iter8.metrics.provider import FetchFailed, FetchRequest

HISTOGRAM_QUERY = "histogramQuery"
HISTOGRAM_SCALE = "histogramScale"
_PATH = "/api/v1/query"


class PrometheusProvider:
    name: ClassVar[str] = "prometheus"
    priority: ClassVar[int] = 50
    io: ClassVar[bool] = True

    def matches(self, metric: Metric) -> bool:
        spec = metric.spec
        if spec.provider == self.name:
            return True
        if not spec.url_template:
            return False
        return urlsplit(spec.url_template).path.rstrip("/").endswith(_PATH)

    def fetch(self, request: FetchRequest) -> Observation:
        built = query.build(request)
        extra = {k: v for k, v in built.params if k in (HISTOGRAM_QUERY, HISTOGRAM_SCALE)}
        params = [(k, v) for k, v in built.params if k not in extra]
        document = query.send(replace(built, params=params), request)
        _check_not_empty(document, "the query")
        value = query.extract(document, request.metric.spec.jq_expression)
        if HISTOGRAM_QUERY not in extra:
            return Observation(value=value)
        buckets_query = [(k, v) for k, v in params if k != "query"]
        buckets_query.append(("query", extra[HISTOGRAM_QUERY]))
        try:
            scale = _scale(extra.get(HISTOGRAM_SCALE, "1"))
            answer = query.send(replace(built, params=buckets_query), request)
            histogram = to_histogram(answer, scale)
        except FetchFailed as failure:
            return Observation(value=value, message=f"histogram ({failure.outcome}): {failure}")
        return Observation(value=value, histogram=histogram, sample_size=histogram.count)


def _scale(text: str) -> float:
    try:
        scale = float(text)
    except ValueError:
        scale = math.nan
    if not math.isfinite(scale) or scale <= 0:
        raise FetchFailed("error", f"{HISTOGRAM_SCALE} {text!r} is not a positive number")
    return scale


def _result(document: Any) -> list[Any]:
    data = document.get("data") if isinstance(document, dict) else None
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(result, list):
        raise FetchFailed("error", f"not a Prometheus query result: {str(document)[:200]}")
    return result


def _check_not_empty(document: Any, what: str) -> None:
    data = document.get("data") if isinstance(document, dict) else None
    if isinstance(data, dict) and data.get("result") == []:
        raise FetchFailed("empty", f"{what} matched no series")


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise FetchFailed("error", f"{HISTOGRAM_QUERY}: {text!r} is not a number") from None


def to_histogram(document: Any, scale: float = 1.0) -> Histogram:
    """Cumulative per-`le` counts (an instant vector) → non-cumulative buckets."""
    result = _result(document)
    if not result:
        raise FetchFailed("empty", f"{HISTOGRAM_QUERY} matched no series")
    if document["data"].get("resultType") != "vector":
        raise FetchFailed("error", f"{HISTOGRAM_QUERY} must give an instant vector")
    counts: dict[float, float] = {}
    for series in result:
        labels = series.get("metric", {}) if isinstance(series, dict) else {}
        sample = series.get("value") if isinstance(series, dict) else None
        if "le" not in labels or not isinstance(sample, list) or len(sample) != 2:
            raise FetchFailed("error", f"{HISTOGRAM_QUERY}: a series without le: {labels}")
        le = _number(labels["le"])
        if le in counts:
            raise FetchFailed(
                "error", f"{HISTOGRAM_QUERY}: several series per le (use sum by (le))"
            )
        counts[le] = _number(sample[1])
    if any(math.isnan(c) for c in counts.values()):
        raise FetchFailed("nan", f"{HISTOGRAM_QUERY} gave NaN counts")
    buckets: list[Bucket] = []
    lower, below = 0.0, 0.0
    for le in sorted(counts):
        count = max(counts[le] - below, 0.0)  # increase() may wobble; counts never go down
        below = max(below, counts[le])
        if math.isinf(le):
            if count > 0:
                buckets.append(Bucket(lower=lower * scale, upper=lower * scale, count=count))
            continue
        buckets.append(Bucket(lower=lower * scale, upper=le * scale, count=count))
        lower = le
    return Histogram(buckets=buckets)


PROVIDER = PrometheusProvider()
