"""Built-in metrics computed from collected data, checked against numbers worked out by hand."""

from __future__ import annotations

import pytest

from iter8.analytics.observations import Observation
from iter8.api.builtin import builtin_metrics
from iter8.api.references import MetricKey
from iter8.metrics.builtin_data import (
    BuiltinHists,
    DurationHistogram,
    LatencyBucket,
    VersionData,
    bucket_of,
    merge,
    version_data,
)
from iter8.metrics.provider import FetchRequest
from iter8.metrics.providers.builtin import NAMES
from iter8.metrics.registry import fetch, fetch_all, provider_for
from tests.metrics.builders import metric, version

# 100 requests: 50 in 10-20 ms, 30 in 20-40 ms, 20 in 40-100 ms; 2.5 s in all; 4 errors.
HAND = VersionData(
    duration_histogram=DurationHistogram(
        count=100,
        min=0.010,
        max=0.100,
        sum=2.5,
        data=[
            LatencyBucket(start=0.020, end=0.040, count=30),
            LatencyBucket(start=0.010, end=0.020, count=50),
            LatencyBucket(start=0.040, end=0.100, count=20),
        ],
    ),
    ret_codes={"200": 96, "404": 1, "503": 2, "-1": 1},
)


def builtin(name: str, data: VersionData | None = HAND, of: str = "v1") -> Observation:
    m = builtin_metrics()[MetricKey("iter8-system", name)]
    hists = BuiltinHists({"v1": data}) if data is not None else None
    return fetch(FetchRequest(metric=m, version=version(of), builtin=hists))


def test_the_nine_builtin_metrics_are_served_by_the_builtin_provider() -> None:
    names = sorted(key.name for key in builtin_metrics())
    assert names == sorted(NAMES)
    assert {provider_for(m).name for m in builtin_metrics().values()} == {"iter8"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("request-count", 100),
        ("error-count", 4),  # 404, 503, 503 and one request without a response
        ("error-rate", 0.04),
        ("mean-latency", 25.0),
        ("latency-50th-percentile", 20.0),  # rank 50: the top of the first bucket
        ("latency-75th-percentile", 20 + 20 * 25 / 30),
        ("latency-90th-percentile", 40 + 60 * 10 / 20),
        ("latency-95th-percentile", 40 + 60 * 15 / 20),
        ("latency-99th-percentile", 40 + 60 * 19 / 20),
    ],
)
def test_values_by_hand(name: str, value: float) -> None:
    assert builtin(name).value == pytest.approx(value)


def test_rates_and_latencies_carry_the_sample_size_and_latencies_their_histogram() -> None:
    assert builtin("error-rate").sample_size == 100
    for name in ("mean-latency", "latency-90th-percentile"):
        observation = builtin(name)
        assert observation.sample_size == 100
        assert observation.histogram is not None
        rows = [(b.lower, b.upper, b.count) for b in observation.histogram.buckets]
        assert rows == [(10, 20, 50), (20, 40, 30), (40, 100, 20)]


def test_percentiles_stay_within_the_observed_min_and_max() -> None:
    narrow = HAND.duration_histogram.model_copy(update={"min": 0.012, "max": 0.080})
    data = HAND.model_copy(update={"duration_histogram": narrow})
    assert builtin("latency-90th-percentile", data).value == pytest.approx(40 + 40 * 10 / 20)
    histogram = builtin("latency-50th-percentile", data).histogram
    assert histogram is not None
    assert (histogram.buckets[0].lower, histogram.buckets[-1].upper) == (12, 80)


def test_a_version_without_data_is_no_data() -> None:
    assert builtin("request-count", of="v2").outcome == "no-data"
    assert builtin("mean-latency", data=None).outcome == "no-data"


def test_a_version_with_zero_requests_has_counts_but_no_rates() -> None:
    empty = VersionData()
    assert builtin("request-count", empty) == Observation(value=0)
    assert builtin("error-count", empty) == Observation(value=0)
    for name in ("error-rate", "mean-latency", "latency-50th-percentile"):
        assert builtin(name, empty).outcome == "no-data"


def test_an_unknown_builtin_name_is_an_error() -> None:
    m = metric("latency-42nd-percentile", "iter8-system", provider="iter8")
    observation = fetch(FetchRequest(metric=m, version=version("v1"), builtin=BuiltinHists()))
    assert observation.outcome == "error"


def test_version_data_summarises_requests() -> None:
    data = version_data([(0.010, "200"), (0.0105, "200"), (0.300, "500"), (5.0, "-1")])
    h = data.duration_histogram
    assert (h.count, h.min, h.max) == (4, 0.010, 5.0)
    assert h.sum == pytest.approx(5.3205)
    assert [b.count for b in h.data] == [2, 1, 1]  # 10 and 10.5 ms share a 12%-wide bucket
    assert all(b.start <= s < b.end for b, s in zip(h.data, (0.010, 0.300, 5.0), strict=True))
    assert data.ret_codes == {"200": 2, "500": 1, "-1": 1}
    assert data.errors == 2


@pytest.mark.parametrize("seconds", [0.0, 3e-6, 1e-5, 0.001, 0.1, 0.25, 1.0, 59.9, 1234.5])
def test_log_buckets_hold_their_value_and_are_about_12_percent_wide(seconds: float) -> None:
    start, end = bucket_of(seconds)
    assert start <= seconds < end
    if start > 0:
        assert end / start == pytest.approx(10 ** (1 / 20), rel=1e-4)


def test_merge_accumulates_loops_as_iter8_did() -> None:
    first = BuiltinHists({"v1": version_data([(0.01, "200"), (0.02, "500")])})
    second = BuiltinHists(
        {
            "v1": version_data([(0.01, "200"), (0.5, "200")]),
            "v2": version_data([(0.03, "200")]),
        }
    )
    merged = merge(first, second)
    v1 = merged.root["v1"]
    h = v1.duration_histogram
    assert (h.count, h.min, h.max) == (4, 0.01, 0.5)
    assert h.sum == pytest.approx(0.54)
    assert [b.count for b in h.data] == [2, 1, 1]
    assert v1.ret_codes == {"200": 3, "500": 1}
    assert merged.root["v2"] == second.root["v2"]
    assert merge(None, first) == first


def test_iter8_v2_status_data_loads_and_round_trips() -> None:
    """A Fortio-shaped `aggregatedBuiltinHists.data`, with fields we do not use."""
    wire = {
        "v1": {
            "DurationHistogram": {
                "Count": 2,
                "Min": 0.004,
                "Max": 0.009,
                "Sum": 0.013,
                "Avg": 0.0065,
                "Data": [{"Start": 0.004, "End": 0.005, "Percent": 50, "Count": 1}],
            },
            "RetCodes": {"200": 2},
        }
    }
    hists = BuiltinHists.model_validate(wire)
    assert hists.to_wire() == wire
    m = builtin_metrics()[MetricKey("iter8-system", "mean-latency")]
    result = fetch_all([m], [version("v1")], elapsed_seconds=1, builtin=hists)
    assert result["iter8-system/mean-latency"]["v1"].value == pytest.approx(6.5)
