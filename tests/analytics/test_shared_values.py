"""Evidence rule 7 without request counts: values every version shares are no version's own.

A backend of bare values (no request count, no sample size) gives the sample-ratio check
nothing to test, so a query that does not select the version went unseen: its totals, the
baseline's requests included, made a candidate with 1.5% errors (limit 1%) look compliant, and
it rode the increment cap to 98% of the traffic. Now two iterations of identical, changing
values mark the metric shared (`bayes.shared_values`): no evidence, the split held, `no-data`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.adapter import AlgorithmPolicy, experiment_for
from bench.scenarios import SCENARIOS, Arm, Scenario
from bench.world import ERRORS, World
from iter8.analytics.algorithm import AnalysisResult
from iter8.analytics.algorithms.bayesian import ALGORITHM
from iter8.analytics.assessment import status_analysis
from iter8.analytics.bayes import shared_values
from iter8.analytics.bayes.settings import Settings
from iter8.api.experiment import Experiment
from iter8.describe import describe

POOLED = next(s for s in SCENARIOS if s.name == "canary-unfiltered-values")  # 1.5% errors
OWN = next(s for s in SCENARIOS if s.name == "canary-bare-values")  # the same, per version
NAMES = ["v1", "v2"]


def drive(scenario: Scenario, seed: int) -> tuple[list[list[int]], str, list[AnalysisResult]]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    world, policy = World(scenario, rng), AlgorithmPolicy(ALGORITHM, scenario, seed)
    splits, results, action = [policy.start()], [], "continue"
    for iteration in range(1, scenario.max_iterations + 1):
        world.serve(splits[-1])
        step = policy.step(iteration, world.snapshot())
        splits.append(step.weights)
        assert policy.last is not None
        results.append(policy.last)
        action = step.action
        if action != "continue":
            break
    return splits, action, results


@pytest.mark.parametrize(
    "scenario",
    [POOLED, dataclasses.replace(POOLED, arms=(Arm(), Arm(error=0.05)))],
    ids=["1.5% errors", "5% errors"],
)
def test_shared_values_move_nothing_and_end_as_no_data(scenario: Scenario) -> None:
    ending = Settings().no_data_iterations
    for seed in range(40):
        splits, action, results = drive(scenario, seed)
        assert max(s[1] for s in splits) == splits[0][1], (seed, splits)
        assert action == "rollback", (seed, results[-1].decision.reason)
        assert results[-1].decision.reason.startswith("no-data"), seed
        both = [r for r in results if len(r.details["missingData"]["shared"]) == 2]
        assert both and ERRORS in both[0].details["missingData"]["shared"], seed
        found = both[0].details["iteration"]  # 2, later when a cumulative rate repeats itself
        assert found <= ending and len(results) <= found + ending - 1, (seed, found, len(results))


def test_values_measured_per_version_are_never_taken_for_shared() -> None:
    """The control: the same backend with queries that select the version. The candidate is
    measured and ramps, and no metric is ever marked shared."""
    for seed in range(40):
        splits, _, results = drive(OWN, seed)
        assert max(s[1] for s in splits) > splits[0][1], (seed, splits)
        assert all(not r.details["missingData"]["shared"] for r in results), seed


def test_the_reasons_say_which_metric_and_what_to_check() -> None:
    _, _, results = drive(POOLED, 0)
    last = results[-1]
    assert "measured the very same as every other version (do its queries select it?)" in (
        last.decision.reason
    )
    assert last.details["evidence"]["v2"][ERRORS] == "no data (the same values for every version)"
    assert last.details["weights"]["held"]["v2"].endswith("split held")


def test_describe_names_the_shared_metric_and_the_fix() -> None:
    _, _, results = drive(POOLED, 0)
    status = {
        "stage": "Completed",
        "completedIterations": len(results),
        "analysis": status_analysis(results[-1], "test", "2026-01-01T00:00:00Z"),
    }
    text = describe(Experiment.from_wire({**experiment_for(POOLED).to_wire(), "status": status}))
    assert f"Shared values: {ERRORS}: every version answered the very same values" in text
    assert "label matcher on $name" in text


@pytest.mark.parametrize(
    ("iterations", "expected"),
    [
        ([{"v1": 0.3, "v2": 0.3}, {"v1": 0.4, "v2": 0.4}], "shared"),
        ([{"v1": 0.3, "v2": 0.3}, {"v1": 0.3, "v2": 0.3}, {"v1": 0.3, "v2": 0.3}], 0.3),
        ([{"v1": 0.3, "v2": 0.31}, {"v1": 0.4, "v2": 0.4}, {"v1": 0.5, "v2": 0.5}], "own"),
        ([{"v1": 0.0, "v2": 0.0}, {"v1": 1.0, "v2": 1.0}, {"v1": 0.0, "v2": 0.0}], None),
        ([{"v1": 0.3}, {"v1": 0.4, "v2": 0.4}], 0.4),
        ([{"v1": 0.3, "v2": 0.3}, {"v1": 0.4, "v2": 0.4}, {"v1": 0.5, "v2": 0.6}], "shared"),
    ],
    ids=["changing", "constant", "differed once", "saturated", "one missing", "kept"],
)
def test_the_rule(iterations: list[dict[str, float]], expected: object) -> None:
    state: shared_values.State = {}
    for values in iterations:
        state = shared_values.update(state, {"m": values}, NAMES, ["m"])
    assert state.get("m") == expected
    assert shared_values.shared(state) == ({"m"} if expected == "shared" else set())
    assert shared_values.from_wire(state) == state


def test_one_version_alone_and_malformed_state() -> None:
    assert shared_values.update({}, {"m": {"v1": 0.3}}, ["v1"], ["m"]) == {}
    kept = shared_values.update(
        {"gone": "shared", "m": 0.3}, {"x": {"v1": 1.5, "v2": 1.5}}, NAMES, ["m"]
    )
    assert kept == {"m": 0.3}  # only the experiment's metrics
    malformed = {"a": "shared", "b": True, "c": "x", "d": float("nan"), "e": 0.5, "f": [1]}
    assert shared_values.from_wire(malformed) == {"a": "shared", "e": 0.5}
    assert shared_values.from_wire("junk") == {}
