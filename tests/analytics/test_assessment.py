"""The shared helpers: aggregation with fallback, objectives, feasibility, the v2 status shapes."""

from __future__ import annotations

import pytest

from iter8.analytics.algorithm import (
    AnalysisInput,
    AnalysisResult,
    Decision,
    WinnerAssessment,
)
from iter8.analytics.assessment import (
    Messages,
    aggregate,
    aggregated_metrics_data,
    criteria_keys,
    feasible_versions,
    render_value,
    satisfies,
    status_analysis,
    version_assessments,
)
from iter8.analytics.observations import Observation, unknown
from iter8.api.experiment import Analysis, Objective, VersionWeight
from tests.analytics.v2_builders import experiment, latency_objective, observations


def objective(**limits: object) -> Objective:
    return Objective.from_wire({"metric": "m", **limits})


@pytest.mark.parametrize(
    ("limits", "value", "expected"),
    [
        ({"upperLimit": 50}, 50.0, True),
        ({"upperLimit": 50}, 50.0001, False),
        ({"lowerLimit": "0.2"}, 0.2, True),
        ({"lowerLimit": "0.2"}, 0.1999, False),
        ({"upperLimit": "10m"}, 0.01, True),
        ({"upperLimit": "10m"}, 0.011, False),
        ({"lowerLimit": 1, "upperLimit": 2}, 1.5, True),
        ({"lowerLimit": 1, "upperLimit": 2}, 2.5, False),
        ({"upperLimit": 50}, None, False),
    ],
)
def test_objectives_are_inclusive_and_need_a_value(
    limits: dict[str, object], value: float | None, expected: bool
) -> None:
    assert satisfies(objective(**limits), value) is expected


def test_criteria_keys_are_resolved_ordered_and_unique() -> None:
    exp = experiment(
        "A/B",
        rewards=[{"metric": "conversion", "preferredDirection": "High"}],
        objectives=[latency_objective(), {"metric": "shop/conversion", "lowerLimit": 0}],
    )
    assert exp.spec.criteria is not None
    exp.spec.criteria.request_count = "iter8-system/request-count"
    assert criteria_keys(exp) == ["iter8-system/request-count", "shop/conversion", "shop/latency"]


def test_values_render_as_v2_did() -> None:
    assert render_value(15.0) == 15
    assert render_value(0.002) == "0.002"
    assert render_value(1e-7) == "1e-07"


def test_aggregation_takes_the_latest_value_then_the_previous_then_null() -> None:
    previous = {"shop/latency": {"data": {"v1": {"value": "12.5"}, "v2": {"value": None}}}}
    exp = experiment(
        objectives=[latency_objective()],
        versions=("v1", "v2", "v3"),
        status={"analysis": {"aggregatedMetrics": {"data": previous}}},
    )
    observed = {"shop/latency": {"v1": unknown("timeout", "5 s"), "v3": Observation(value=7)}}
    aggregated = aggregate(AnalysisInput(exp, {}, observed))
    assert aggregated.values == {"shop/latency": {"v1": 12.5, "v2": None, "v3": 7.0}}
    assert aggregated.messages.render() == (
        "Error: Error from metrics backend for metric: shop/latency and version: v1, "
        "Error from metrics backend for metric: shop/latency and version: v2; Warning: ; Info: "
    )
    assert [(m["version"], m["outcome"], m["fallback"]) for m in aggregated.missing] == [
        ("v1", "timeout", 12.5),
        ("v2", "missing", None),
    ]


def test_non_finite_values_are_no_data() -> None:
    exp = experiment(objectives=[latency_objective()])
    observed = {
        "shop/latency": {
            "v1": Observation(value=float("nan")),
            "v2": Observation(value=float("inf")),
        }
    }
    aggregated = aggregate(AnalysisInput(exp, {}, observed))
    assert aggregated.values == {"shop/latency": {"v1": None, "v2": None}}
    assert len(aggregated.missing) == 2


def test_the_aggregated_block_has_the_v2_shape_with_sample_sizes() -> None:
    exp = experiment(objectives=[latency_objective()])
    observed = {
        "shop/latency": {
            "v1": Observation(value=20, sample_size=300),
            "v2": Observation(value=1.5),
        },
        "shop/other": {"v1": Observation(value=3)},  # observed but not in the criteria: reported
    }
    data = aggregated_metrics_data(aggregate(AnalysisInput(exp, {}, observed)))
    assert data == {
        "shop/latency": {"data": {"v1": {"value": 20, "sampleSize": 300}, "v2": {"value": "1.5"}}},
        "shop/other": {"data": {"v1": {"value": 3}, "v2": {"value": None, "message": "missing"}}},
    }


def test_the_aggregated_block_keeps_the_backends_message() -> None:
    """Beyond v2: why a value is missing, in the backend's words, for describe and iter8 run."""
    exp = experiment(objectives=[latency_objective()])
    refused = Observation(outcome="error", message="connection refused")
    observed = {"shop/latency": {"v1": Observation(value=20), "v2": refused}}
    data = aggregated_metrics_data(aggregate(AnalysisInput(exp, {}, observed)))
    assert data["shop/latency"]["data"]["v2"] == {"value": None, "message": "connection refused"}
    assert "message" not in data["shop/latency"]["data"]["v1"]


def test_load_only_versions_are_reported_but_not_assessed() -> None:
    exp = experiment(objectives=[latency_objective()])
    observed = observations({"shop/latency": {"v1": 1.0, "v2": 2.0, "load-only": 3.0}})
    aggregated = aggregate(AnalysisInput(exp, {}, observed))
    assert list(aggregated.values["shop/latency"]) == ["v1", "v2", "load-only"]
    assert list(version_assessments(exp, aggregated.values)) == ["v1", "v2"]


def test_feasible_versions() -> None:
    exp = experiment(versions=("v1", "v2", "v3"))
    assert feasible_versions(exp, {}) == ["v1", "v2", "v3"]  # no objectives: all feasible
    assessments = {"v1": [True, False], "v2": [True, True], "v3": [True, True]}
    assert feasible_versions(exp, assessments) == ["v2", "v3"]


def test_messages_always_carry_the_three_levels() -> None:
    assert Messages().render() == "Error: ; Warning: ; Info: "
    assert Messages(["a", "b"], [], ["c"]).render() == "Error: a, b; Warning: ; Info: c"


def result(winner: str | None) -> AnalysisResult:
    return AnalysisResult(
        aggregated_metrics={"shop/latency": {"data": {"v1": {"value": 3}}}},
        version_assessments={"v1": [True]},
        winner_assessment=WinnerAssessment(
            winner_found=winner is not None,
            winner=winner,
            best_versions=[winner] if winner else [],
        ),
        weights=[VersionWeight(name="v1", value=95), VersionWeight(name="v2", value=5)],
        decision=Decision(action="continue", reason="iteration 1 of 15"),
        details={"p": 0.5},
        messages={"weights": "Info: all ok"},
    )


def test_status_analysis_renders_the_v2_blocks_and_our_extras() -> None:
    rendered = status_analysis(result("v1"), "http://analytics", "2026-01-01T00:00:00Z")
    for block in ("aggregatedMetrics", "versionAssessments", "winnerAssessment", "weights"):
        assert rendered[block]["provenance"] == "http://analytics"
        assert rendered[block]["timestamp"] == "2026-01-01T00:00:00Z"
    assert rendered["weights"] == {
        "provenance": "http://analytics",
        "timestamp": "2026-01-01T00:00:00Z",
        "message": "Info: all ok",
        "data": [{"name": "v1", "value": 95}, {"name": "v2", "value": 5}],
    }
    assert rendered["winnerAssessment"]["data"] == {
        "winnerFound": True,
        "winner": "v1",
        "bestVersions": ["v1"],
    }
    assert rendered["versionAssessments"]["data"] == {"v1": [True]}
    assert rendered["decision"] == {"action": "continue", "reason": "iteration 1 of 15"}
    assert rendered["details"] == {"p": 0.5}


def test_no_winner_renders_without_a_winner_key_and_reads_back_as_status() -> None:
    rendered = status_analysis(result(None), "p", "t")
    assert rendered["winnerAssessment"]["data"] == {"winnerFound": False, "bestVersions": []}
    analysis = Analysis.from_wire(rendered)  # fits the Experiment's status.analysis
    assert analysis.weights is not None and analysis.weights.data[1] == {"name": "v2", "value": 5}
    assert analysis.to_wire()["decision"]["action"] == "continue"
