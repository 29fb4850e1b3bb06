"""The Prometheus provider's handling of answer shapes, against a local server posing as one."""

from __future__ import annotations

import json

import pytest

from iter8.analytics.observations import Bucket
from iter8.metrics.provider import FetchFailed, FetchRequest
from iter8.metrics.providers.prometheus import to_histogram
from iter8.metrics.registry import fetch, provider_for
from tests.metrics.backend import Answer, Backend, Seen
from tests.metrics.builders import metric, params, version

JQ = ".data.result[0].value[1] | tonumber"


def vector(*series: tuple[dict[str, str], str]) -> dict[str, object]:
    result = [{"metric": labels, "value": [1700000000, value]} for labels, value in series]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def answer(seen: Seen, _: int) -> Answer:
    """Buckets for a histogram query, a single number for anything else."""
    if seen.param("query").startswith("buckets"):
        body = vector(({"le": "0.1"}, "3"), ({"le": "+Inf"}, "4"), ({"le": "0.2"}, "3"))
    else:
        body = vector(({}, "7"))
    return Answer(body=json.dumps(body))


def test_histogram_params_go_only_into_the_histogram_query(http_backend: Backend) -> None:
    http_backend.routes["/prom/api/v1/query"] = answer
    m = metric(
        urlTemplate=f"{http_backend.url}/prom/api/v1/query",
        params=params(query="value", time="123", histogramQuery="buckets{v=$name}"),
        jqExpression=JQ,
    )
    assert provider_for(m).name == "prometheus"
    observation = fetch(FetchRequest(metric=m, version=version("v1")))
    assert observation.value == 7
    value_query, histogram_query = http_backend.seen
    assert value_query.params == {"query": ["value"], "time": ["123"]}
    assert histogram_query.params == {"query": ["buckets{v=v1}"], "time": ["123"]}
    assert observation.histogram is not None
    assert observation.histogram.buckets == [
        Bucket(lower=0, upper=0.1, count=3),
        Bucket(lower=0.1, upper=0.2, count=0),
        Bucket(lower=0.2, upper=0.2, count=1),
    ]
    assert observation.sample_size == 4


def test_a_prometheus_timeout_is_a_timeout(http_backend: Backend) -> None:
    error = {"status": "error", "errorType": "timeout", "error": "query timed out in eval"}
    http_backend.routes["/api/v1/query"] = Answer(503, json.dumps(error))
    m = metric(urlTemplate=f"{http_backend.url}/api/v1/query", jqExpression=JQ)
    observation = fetch(FetchRequest(metric=m, version=version("v1")))
    assert observation.outcome == "timeout"
    assert observation.message == "HTTP 503: timeout: query timed out in eval"


def test_a_bad_histogram_scale_keeps_the_value(http_backend: Backend) -> None:
    http_backend.routes["/api/v1/query"] = answer
    m = metric(
        provider="prometheus",
        urlTemplate=f"{http_backend.url}/api/v1/query",
        params=params(query="v", histogramQuery="buckets", histogramScale="-1"),
        jqExpression=JQ,
    )
    observation = fetch(FetchRequest(metric=m, version=version("v1")))
    assert (observation.value, observation.histogram) == (7, None)
    assert "histogramScale '-1' is not a positive number" in (observation.message or "")


def test_counts_that_go_down_across_buckets_become_zero() -> None:
    histogram = to_histogram(vector(({"le": "1"}, "5"), ({"le": "2"}, "4.9"), ({"le": "3"}, "6")))
    assert [b.count for b in histogram.buckets] == pytest.approx([5, 0, 1])


@pytest.mark.parametrize(
    ("document", "outcome"),
    [
        (vector(({"x": "1"}, "1")), "error"),  # no le
        (vector(({"le": "1"}, "1"), ({"le": "1"}, "2")), "error"),  # not summed by le
        (vector(({"le": "1"}, "NaN")), "nan"),
        (vector(({"le": "one"}, "1")), "error"),
        (vector(), "empty"),
        ({"status": "success", "data": {"resultType": "scalar", "result": [0, "1"]}}, "error"),
    ],
)
def test_histogram_answers_that_are_not_buckets(document: dict[str, object], outcome: str) -> None:
    with pytest.raises(FetchFailed) as failure:
        to_histogram(document)
    assert failure.value.outcome == outcome
