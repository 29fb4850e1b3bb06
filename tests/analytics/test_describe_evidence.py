"""`describe` says what evidence each decision rests on, what was held for lack of it, and
roughly how much more traffic would settle an open question."""

from __future__ import annotations

from iter8.analytics.assessment import status_analysis
from iter8.analytics.observations import Observation
from iter8.api.experiment import Experiment
from iter8.describe import describe
from tests.analytics.test_bayes_algorithm import (
    ERRORS,
    LATENCY,
    REQUESTS,
    analyze,
    data,
    experiment,
)


def described(exp: Experiment, observed: dict) -> str:  # type: ignore[type-arg]
    result = analyze(exp, observed)
    status = {
        "stage": "Running",
        "completedIterations": 1,
        "analysis": status_analysis(result, "test", "2026-01-01T00:00:00Z"),
    }
    return describe(Experiment.from_wire({**exp.to_wire(), "status": status}))


def test_describe_names_the_evidence_and_what_would_settle_it() -> None:
    text = described(experiment("Canary"), data({"v1": (600, 0.004, 0.1), "v2": (600, 0.004, 0.1)}))
    assert "rate with its count (n 600)" in text
    assert "histogram (n 60" in text
    assert "To settle (rough: the tests re-run with today's estimates held):" in text
    assert "v2 ≈ " in text and "more requests" in text


def test_describe_says_a_version_without_data_is_held() -> None:
    lost = Observation(outcome="error", message="refused")
    observed = data({"v1": (600, 0.004, 0.1), "v2": (600, 0.004, 0.1)})
    for key in (ERRORS, LATENCY, REQUESTS):
        observed[key]["v2"] = lost
    split = [{"name": "v1", "value": 90}, {"name": "v2", "value": 10}]
    text = described(experiment("Canary", status={"currentWeightDistribution": split}), observed)
    assert "Held: v2: no data: split held" in text
    assert "no data" in text.split("evidence each metric")[1]


def test_describe_says_what_the_split_rests_on() -> None:
    text = described(experiment("Canary"), data({"v1": (600, 0.004, 0.1), "v2": (600, 0.004, 0.1)}))
    line = next(x for x in text.splitlines() if x.startswith("Split: "))
    # a healthy candidate (0.4% errors against 1%) is likely feasible: it rides
    assert line.startswith("Split: v2 rides the increment cap: P(feasible) 0.")
    assert line.endswith(" ≥ 0.15")
