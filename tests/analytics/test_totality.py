"""Every value path is total (issue 12, item 3): whatever numbers a backend or a hand-edited
status holds, an analysis step returns a result, never an exception, and its details are JSON."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iter8.analytics.algorithm import AnalysisInput
from iter8.analytics.observations import Bucket, Histogram, Observation
from iter8.analytics.registry import algorithms
from tests.analytics.test_bayes_algorithm import (
    CONVERSION,
    ERRORS,
    LATENCY,
    REQUESTS,
    experiment,
    following,
)

ANY = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, -1.0, 5e-324, 1e15, 1e16]),
)


def observation(value: float, n: float | None, counts: list[float] | None) -> Observation:
    histogram = None
    if counts is not None:
        buckets = [
            Bucket.model_construct(lower=float(i), upper=float(i + 1), count=c)
            for i, c in enumerate(counts)
        ]
        histogram = Histogram.model_construct(buckets=buckets)
    # model_construct: what a provider could hand over without validation
    return Observation.model_construct(
        outcome="ok", value=value, sample_size=n, histogram=histogram, message=None
    )


OBSERVATIONS = st.builds(
    observation, ANY, st.one_of(st.none(), ANY), st.one_of(st.none(), st.lists(ANY, max_size=4))
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["Canary", "A/B"]),
    st.lists(OBSERVATIONS, min_size=8, max_size=8),
    st.lists(OBSERVATIONS, min_size=8, max_size=8),
)
def test_analysis_over_arbitrary_floats_never_raises(
    pattern: str, first: list[Observation], second: list[Observation]
) -> None:
    keys = (REQUESTS, ERRORS, LATENCY, CONVERSION)
    for name, algorithm in algorithms().items():
        exp = experiment(pattern)
        for values in (first, second):
            observed = {
                k: {"v1": values[2 * i], "v2": values[2 * i + 1]} for i, k in enumerate(keys)
            }
            result = algorithm.analyze(AnalysisInput(exp, {}, observed, 0))
            json.dumps(result.details, allow_nan=False)
            assert sum(w.value for w in result.weights) in (0, 100), name
            exp = following(exp, result)


def test_a_huge_or_negative_value_is_an_invalid_observation_with_a_reason() -> None:
    exp = experiment("Canary")
    observed = {
        REQUESTS: {"v1": observation(-5.0, None, None), "v2": observation(1e308, None, None)},
        ERRORS: {"v1": observation(0.01, -3.0, None), "v2": observation(0.01, 1e308, None)},
    }
    result = algorithms()["bayesian"].analyze(AnalysisInput(exp, {}, observed, 0))
    invalid = result.details["missingData"]["invalid"]
    assert any("count cannot be negative" in s for s in invalid)
    assert any("beyond" in s for s in invalid)
    assert any("sample size" in s for s in invalid)
    assert {w.name: w.value for w in result.weights} == {"v1": 100, "v2": 0}
