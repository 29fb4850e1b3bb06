"""Every value path is total (issue 12, item 3): whatever numbers a backend or a hand-edited
status holds, an analysis step returns a result, never an exception, and its details are JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iter8.analytics.algorithm import AnalysisInput
from iter8.analytics.bayes import evidence
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


def test_iter8_analyze_with_huge_and_negative_values_ends_in_json(tmp_path: Path) -> None:
    """Issue 12, item 3: `iter8 analyze` ended in an OverflowError traceback on 1e308."""
    values = {
        "iter8-system/mean-latency": {
            "checkout-v1": 1e308,
            "checkout-v2": {"value": 20, "sampleSize": 1e308},
        },
        "iter8-system/error-rate": {
            "checkout-v1": {"value": 0.01, "sampleSize": 100},
            "checkout-v2": -1,
        },
        "iter8-system/request-count": {"checkout-v1": -5, "checkout-v2": 1e308},
    }
    file = tmp_path / "values.json"
    file.write_text(json.dumps(values))
    example = Path(__file__).resolve().parent / "no_data_canary.yaml"  # built-in metric names
    iter8 = str(Path(sys.executable).parent / "iter8")
    done = subprocess.run(
        [iter8, "analyze", str(example), "--metrics", str(file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    analysis = json.loads(done.stdout)
    assert len(analysis["details"]["missingData"]["invalid"]) == 5
    # no evidence for the candidate: at most the exploration floor, to be measured (v1 answered)
    assert [w["value"] for w in analysis["weights"]["data"]] == [98, 2]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 100), min_size=2, max_size=5),
    st.lists(st.integers(0, 100), min_size=5, max_size=5),
    st.lists(st.sampled_from(["complete", "partial", "none"]), min_size=5, max_size=5),
    st.booleans(),
)
def test_hold_keeps_every_version_without_evidence_in_place(
    raw: list[int], current_raw: list[int], states: list[str], measurable: bool
) -> None:
    names = [f"v{i}" for i in range(len(raw))]
    weights = [round(100 * w / (sum(raw) or 1)) for w in raw]
    weights[0] += 100 - sum(weights)
    if weights[0] < 0:
        return
    current = dict(zip(names, current_raw, strict=False))
    covered = dict(zip(names, states, strict=False))
    caps = [100] * len(names)
    result, _ = evidence.hold(names, weights, current, caps, covered, measurable, 2.0)  # type: ignore[arg-type]
    assert sum(result) == 100 and all(0 <= w <= 100 for w in result)
    valid = sum(current[n] for n in names) == 100
    for i, name in enumerate(names):
        allowance = 2 if (measurable and i > 0 and current[name] < 2) else current[name]
        if covered[name] != "complete" and i > 0:
            assert result[i] <= max(current[name], allowance)  # never ramped
        if valid and covered[name] == "none" and i > 0 and not measurable:
            assert result[i] == current[name]  # held exactly
