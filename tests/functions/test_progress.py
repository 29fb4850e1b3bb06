"""The live progress line `iter8 run` prints for each analysed iteration."""

from __future__ import annotations

from typing import Any

import pytest

from iter8.api.experiment import Condition, Experiment
from iter8.embedded.progress import Progress
from tests.e2e.builders import experiment, knative_ref, version


def _analysed(p_best: dict[str, Any], deployment: str | None = None) -> Experiment:
    wire = experiment(
        "exp",
        "Canary",
        [version("v1", knative_ref("app", 0)), version("v2", knative_ref("app", 1))],
    )
    wire["status"] = {
        "stage": "Running",
        "completedIterations": 1,
        "analysis": {
            "iteration": 1,
            "weights": {"data": [{"name": "v1", "value": 100}, {"name": "v2", "value": 0}]},
            "details": {"pBest": p_best},
            "decision": {"action": "continue"},
        },
        "currentWeightDistribution": [{"name": "v1", "value": 70}, {"name": "v2", "value": 30}],
    }
    if deployment:
        wire["spec"]["strategy"]["deploymentPattern"] = deployment
    return Experiment.from_wire(wire)


@pytest.mark.parametrize(
    ("p_best", "shown"),
    [
        ({"v1": 0.25, "v2": 0.75}, "P(best) v1=0.25 v2=0.75  "),
        ({"v1": 1.0, "v2": None}, "P(best) v1=1.00  "),
        ({"v1": None, "v2": None}, None),  # no evidence for either: nothing to show
    ],
)
def test_p_best_is_shown_only_for_versions_with_evidence(
    p_best: dict[str, Any], shown: str | None
) -> None:
    (line,) = Progress().lines(_analysed(p_best))
    assert "weights v1=100 v2=0  " in line and line.endswith("decision continue")
    if shown is None:
        assert "P(best)" not in line
    else:
        assert shown in line


def test_an_iteration_is_told_once_though_two_phases_write_it() -> None:
    """analyze records iteration 2 (completedIterations still 1), then route completes it
    (completedIterations 2): one line, not two alike."""
    progress = Progress()
    analysed = _analysed({"v1": 0.5, "v2": 0.5})
    analysed.status.analysis.iteration = 2
    routed = analysed.model_copy(deep=True)
    routed.status.completed_iterations = 2
    assert len(progress.lines(analysed)) == 1
    assert progress.lines(routed) == []
    assert progress.lines(routed) == []


def test_a_pause_is_told() -> None:
    paused = _analysed({"v1": 0.5, "v2": 0.5})
    paused.status.conditions = [
        Condition(type="Paused", status="True", message="Paused by an operator after iteration 1")
    ]
    progress = Progress()
    assert progress.lines(paused) == [
        "default/exp: paused: Paused by an operator after iteration 1"
    ]


@pytest.mark.parametrize("deployment", ["FixedSplit", "BlueGreen"])
def test_a_pattern_that_never_routes_the_recommendation_shows_the_split_in_force(
    deployment: str,
) -> None:
    """FixedSplit and BlueGreen keep their split until the end or the switch: the line showed
    the analysis's recommendation (here 100/0) as if traffic had moved."""
    (line,) = Progress().lines(_analysed({"v1": 0.5, "v2": 0.5}, deployment))
    assert "split v1=70 v2=30  " in line and "weights" not in line


def test_a_progressive_ramp_shows_the_weights_it_routes_next() -> None:
    (line,) = Progress().lines(_analysed({"v1": 0.5, "v2": 0.5}, "Progressive"))
    assert "weights v1=100 v2=0  " in line and "split" not in line
