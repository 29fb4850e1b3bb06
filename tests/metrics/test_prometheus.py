"""The Prometheus provider against a real Prometheus, fed exact per-version series.

Counters grow linearly (so `increase()` is exact), one sample every 15 s for 10 minutes up to
`T`; every query asks at `time=T` over the last 300 s. Per version:

| version | requests/s | errors/s        | latency buckets (cumulative per s, le = .05 .1 .25 .5 1 +Inf) |
|---------|------------|-----------------|---------------------------------------------------------------|
| v1      | 2          | 0.2             | .4  1   1.4 1.8 2   2                                          |
| v2      | 1          | 0 (flat series) | .1  .3  .5  .7  .9  1                                          |
| v3      | 1          | no series       | none                                                          |
| v4      | no series  | no series       | none                                                          |
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from iter8.analytics.observations import Bucket, Observation
from iter8.api.metric import Metric
from iter8.metrics.provider import FetchRequest
from iter8.metrics.registry import fetch, fetch_all, provider_for
from tests.metrics.builders import metric, params, version
from tests.prometheus import Series, linear, push

pytestmark = pytest.mark.prometheus

LE = ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")
BUCKET_RATES = {"v1": (0.4, 1.0, 1.4, 1.8, 2.0, 2.0), "v2": (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)}
JQ = ".data.result[0].value[1] | tonumber"


@dataclass(frozen=True)
class Data:
    url: str
    experiment: str
    time: int

    def metric(self, promql: str, **extra: str) -> Metric:
        """A Metric in the style of the Iter8 v2 samples, pinned to `time` for exact answers."""
        selector = f'experiment="{self.experiment}",version="$name"'
        query_params = params(query=promql.replace("SEL", selector), time=str(self.time))
        query_params += params(**{k: v.replace("SEL", selector) for k, v in extra.items()})
        return metric(
            provider="prometheus",
            urlTemplate=f"{self.url}/api/v1/query",
            params=query_params,
            jqExpression=JQ,
        )

    def fetch(self, m: Metric, name: str) -> Observation:
        return fetch(FetchRequest(metric=m, version=version(name), elapsed_seconds=300))


def flat(buckets: Sequence[Bucket | tuple[float, float, float]]) -> list[float]:
    rows = [(b.lower, b.upper, b.count) if isinstance(b, Bucket) else b for b in buckets]
    return [x for row in rows for x in row]


@pytest.fixture(scope="module")
def data(prometheus_url: str) -> Data:
    end = int(time.time()) // 15 * 15 - 60
    start = end - 600
    experiment = uuid.uuid4().hex
    series: list[Series] = []
    for name, rate in {"v1": 2.0, "v2": 1.0, "v3": 1.0}.items():
        labels = {"experiment": experiment, "version": name}
        series.append(linear("requests_total", labels, start, end, rate))
    for name, rate in {"v1": 0.2, "v2": 0.0}.items():
        labels = {"experiment": experiment, "version": name}
        series.append(linear("errors_total", labels, start, end, rate))
    for name, rates in BUCKET_RATES.items():
        for le, rate in zip(LE, rates, strict=True):
            labels = {"experiment": experiment, "version": name, "le": le}
            series.append(linear("request_duration_seconds_bucket", labels, start, end, rate))
    push(prometheus_url, series)
    return Data(prometheus_url, experiment, end)


def test_a_counter_per_version(data: Data) -> None:
    requests = data.metric("sum(increase(requests_total{SEL}[${elapsedTime}s]))")
    assert provider_for(requests).name == "prometheus"
    assert data.fetch(requests, "v1").value == pytest.approx(600)
    assert data.fetch(requests, "v2").value == pytest.approx(300)


def test_no_matching_series_is_empty_not_zero(data: Data) -> None:
    requests = data.metric("sum(increase(requests_total{SEL}[${elapsedTime}s]))")
    observation = data.fetch(requests, "v4")
    assert (observation.outcome, observation.value) == ("empty", None)
    assert "no series" in (observation.message or "")


def test_a_ratio_written_the_iter8_way(data: Data) -> None:
    num = "(sum(increase(errors_total{SEL}[${elapsedTime}s])) or on() vector(0))"
    den = "(sum(increase(requests_total{SEL}[${elapsedTime}s])) or on() vector(0))"
    error_rate = data.metric(f"{num} / {den}")
    assert data.fetch(error_rate, "v1").value == pytest.approx(0.1)
    assert data.fetch(error_rate, "v2") == Observation(value=0.0)
    assert data.fetch(error_rate, "v3") == Observation(value=0.0)  # no error series at all
    no_traffic = data.fetch(error_rate, "v4")  # 0/0
    assert (no_traffic.outcome, no_traffic.value) == ("nan", None)


def test_a_percentile_with_its_histogram(data: Data) -> None:
    buckets = "sum by (le) (increase(request_duration_seconds_bucket{SEL}[${elapsedTime}s]))"
    p90 = data.metric(f"histogram_quantile(0.9, {buckets})", histogramQuery=buckets)
    observation = data.fetch(p90, "v1")
    assert observation.value == pytest.approx(0.5)
    assert observation.sample_size == pytest.approx(600)
    assert observation.histogram is not None
    expected = [(0, 0.05, 120), (0.05, 0.1, 180), (0.1, 0.25, 120), (0.25, 0.5, 120), (0.5, 1, 60)]
    assert flat(observation.histogram.buckets) == pytest.approx(flat(expected))


def test_histogram_scale_and_the_inf_bucket(data: Data) -> None:
    buckets = "sum by (le) (increase(request_duration_seconds_bucket{SEL}[${elapsedTime}s]))"
    p50 = data.metric(
        f"1000 * histogram_quantile(0.5, {buckets})", histogramQuery=buckets, histogramScale="1000"
    )
    observation = data.fetch(p50, "v2")
    assert observation.value == pytest.approx(250)
    assert observation.histogram is not None
    expected = [(0, 50, 30), (50, 100, 60), (100, 250, 60), (250, 500, 60), (500, 1000, 60)]
    expected.append((1000, 1000, 30))  # the +Inf bucket: a point at the highest finite bound
    assert flat(observation.histogram.buckets) == pytest.approx(flat(expected))


def test_a_failed_histogram_query_keeps_the_value(data: Data) -> None:
    requests = data.metric(
        "sum(increase(requests_total{SEL}[${elapsedTime}s]))", histogramQuery="sum(("
    )
    observation = data.fetch(requests, "v1")
    assert observation.value == pytest.approx(600)
    assert observation.histogram is None
    assert "histogram (error): HTTP 400: bad_data" in (observation.message or "")


def test_a_percentile_of_no_traffic_is_empty(data: Data) -> None:
    buckets = "sum by (le) (increase(request_duration_seconds_bucket{SEL}[${elapsedTime}s]))"
    p90 = data.metric(f"histogram_quantile(0.9, {buckets})", histogramQuery=buckets)
    assert data.fetch(p90, "v4").outcome == "empty"


def test_a_bad_query_is_an_error_in_prometheus_words(data: Data) -> None:
    observation = data.fetch(data.metric("sum(increase(requests_total{SEL}[5m])"), "v1")
    assert observation.outcome == "error"
    assert (observation.message or "").startswith("HTTP 400: bad_data: invalid parameter")


def test_the_query_path_alone_selects_prometheus(data: Data) -> None:
    m = metric(urlTemplate=f"{data.url}/api/v1/query", jqExpression=JQ)
    assert provider_for(m).name == "prometheus"


def test_fetch_all_over_a_real_prometheus_and_a_broken_backend(data: Data) -> None:
    requests = data.metric("sum(increase(requests_total{SEL}[${elapsedTime}s]))")
    broken = metric(name="broken", urlTemplate="http://127.0.0.1:9/api/v1/query", jqExpression=JQ)
    versions = [version(v) for v in ("v1", "v2", "v3", "v4")]
    result = fetch_all([requests, broken], versions, elapsed_seconds=300.7)
    assert [o.value for o in result[requests.key].values()] == pytest.approx([600, 300, 300, None])
    assert {o.outcome for o in result["ns/broken"].values()} == {"error"}


def test_a_large_remote_write_is_accepted(prometheus_url: str) -> None:
    """More than 64 KiB: the snappy block needs several literal chunks."""
    now, experiment = int(time.time()) - 30, uuid.uuid4().hex
    series = [
        Series("bulk_total", {"experiment": experiment, "i": str(i)}, [(now, float(i))])
        for i in range(2000)
    ]
    push(prometheus_url, series)
    m = metric(
        urlTemplate=f"{prometheus_url}/api/v1/query",
        params=params(query=f'sum(bulk_total{{experiment="{experiment}"}})', time=str(now)),
        jqExpression=JQ,
    )
    assert fetch(FetchRequest(metric=m, version=version("v1"))).value == sum(range(2000))
