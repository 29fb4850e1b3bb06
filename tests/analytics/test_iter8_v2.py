"""The `iter8-v2` algorithm behaves as Iter8 v2's analytics did (iter8-v2.md §3.3–3.6), with the
two deliberate fixes: weights matched by name, metrics by resolved `ns/name`."""

from __future__ import annotations

import statistics

import pytest

from iter8.analytics.algorithms.iter8_v2 import (
    ALGORITHM,
    CONFORMANCE_WEIGHTS,
    capped_weights,
    target_weights,
)
from iter8.analytics.registry import UnknownAlgorithm, algorithms, get_algorithm
from tests.analytics.v2_builders import (
    analyze,
    experiment,
    latency_objective,
    next_iteration,
    weights_of,
)

GOOD = {"shop/latency": {"v1": 30.0, "v2": 30.0}}
CANDIDATE_SLOW = {"shop/latency": {"v1": 30.0, "v2": 80.0}}
REWARD_HIGH = [{"metric": "shop/conversion", "preferredDirection": "High"}]


def split(**weights: int) -> dict[str, object]:
    """A status holding the split in force, listed in the order given."""
    return {"currentWeightDistribution": [{"name": n, "value": v} for n, v in weights.items()]}


# --- §3.6 weights: the worked behaviour -----------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_a_winning_candidate_ramps_10_20_to_90_then_95(seed: int) -> None:
    exp = experiment(objectives=[latency_objective()])
    seen = []
    for _ in range(12):
        result = analyze(exp, GOOD, seed=seed)
        seen.append(weights_of(result)["v2"])
        assert sum(weights_of(result).values()) == 100
        exp = next_iteration(exp, result)
    assert seen == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 95, 95]


def test_a_losing_candidate_drops_straight_to_5() -> None:
    exp = experiment(objectives=[latency_objective()], status=split(v1=40, v2=60))
    result = analyze(exp, CANDIDATE_SLOW)
    assert result.winner_assessment.winner == "v1"
    assert weights_of(result) == {"v1": 95, "v2": 5}


def test_no_winner_also_sends_the_candidate_back_to_5() -> None:
    exp = experiment(objectives=[latency_objective()], status=split(v1=40, v2=60))
    result = analyze(exp, {"shop/latency": {"v1": 80.0, "v2": 80.0}})
    assert not result.winner_assessment.winner_found
    assert weights_of(result) == {"v1": 95, "v2": 5}


def test_abn_with_one_best_targets_a_third_of_exploration_each() -> None:
    target = target_weights(["v1", "v2", "v3"], ["v2"])
    assert target == pytest.approx([10 / 3, 90 + 10 / 3, 10 / 3])
    assert target == pytest.approx([3.33, 93.33, 3.33], abs=0.005)


def test_abn_rounds_to_100_and_is_unbiased_over_seeds() -> None:
    exp = experiment(
        "A/B/N",
        versions=("v1", "v2", "v3"),
        rewards=REWARD_HIGH,
        status=split(v1=4, v2=92, v3=4),  # close to the target, so no cap applies
    )
    values = {"shop/conversion": {"v1": 0.1, "v2": 0.3, "v3": 0.2}}
    runs = [weights_of(analyze(exp, values, seed=seed)) for seed in range(3000)]
    assert all(sum(run.values()) == 100 for run in runs)
    assert {run["v1"] for run in runs} == {3, 4}  # never 3.33 rounded the same way every time
    for version, expected in {"v1": 10 / 3, "v2": 90 + 10 / 3, "v3": 10 / 3}.items():
        mean = statistics.fmean(run[version] for run in runs)
        assert mean == pytest.approx(expected, abs=0.08)  # ±0.08 ≈ 6 standard errors


def test_the_same_seed_gives_the_same_split_and_seeds_differ() -> None:
    exp = experiment(
        "A/B/N", versions=("v1", "v2", "v3"), rewards=REWARD_HIGH, status=split(v1=4, v2=92, v3=4)
    )
    values = {"shop/conversion": {"v1": 0.1, "v2": 0.3, "v3": 0.2}}
    assert all(
        analyze(exp, values, seed=7).weights == analyze(exp, values, seed=7).weights
        for _ in range(5)
    )
    assert len({tuple(weights_of(analyze(exp, values, seed=s)).values()) for s in range(50)}) > 1


def test_caps_are_per_candidate_not_on_total_candidate_traffic() -> None:
    exp = experiment("A/B/N", versions=("v1", "v2", "v3"), rewards=REWARD_HIGH)
    result = analyze(exp, {"shop/conversion": {"v1": 0.1, "v2": 0.3, "v3": 0.3}})  # v2, v3 tie
    assert result.winner_assessment.best_versions == ["v2", "v3"]
    assert weights_of(result) == {"v1": 80, "v2": 10, "v3": 10}  # each +10: 20 in total


def test_decreases_are_not_limited_and_max_candidate_weight_caps() -> None:
    names = ["v1", "v2", "v3"]
    target = target_weights(names, ["v2"])
    capped = capped_weights(names, target, {"v1": 40, "v2": 25, "v3": 35}, 30, 10)
    assert capped == pytest.approx([100 - 30 - 10 / 3, 30, 10 / 3])  # v3: 35 → 3.33 at once


def test_previous_weights_are_matched_by_name_not_position() -> None:
    # v2's controller appends a version without weightObjRef last; positional reading would
    # take 70 as the candidate's weight and allow it 80.
    exp = experiment(objectives=[latency_objective()], status=split(v2=30, v1=70))
    assert weights_of(analyze(exp, GOOD)) == {"v1": 60, "v2": 40}


def test_conformance_has_no_weights() -> None:
    exp = experiment("Conformance", versions=("v1",), objectives=[latency_objective()])
    result = analyze(exp, {"shop/latency": {"v1": 30.0}})
    assert result.weights == []
    assert result.messages["weights"] == CONFORMANCE_WEIGHTS


# --- §3.3–3.5 assessments and winners --------------------------------------------------------


@pytest.mark.parametrize(("latency", "winner"), [(50.0, "v1"), (50.01, None)])
def test_conformance_winner_is_the_baseline_when_it_meets_the_objectives(
    latency: float, winner: str | None
) -> None:
    exp = experiment("Conformance", versions=("v1",), objectives=[latency_objective()])
    result = analyze(exp, {"shop/latency": {"v1": latency}})  # the limit is inclusive
    assert result.winner_assessment.winner == winner
    assert result.winner_assessment.winner_found is (winner is not None)
    assert result.winner_assessment.best_versions == ([winner] if winner else [])


def test_canary_winner_ignores_the_baseline_being_better() -> None:
    exp = experiment(objectives=[latency_objective()])
    result = analyze(exp, {"shop/latency": {"v1": 5.0, "v2": 49.0}})
    assert result.winner_assessment.winner == "v2"


def test_canary_falls_back_to_the_baseline_then_to_no_winner() -> None:
    exp = experiment(objectives=[latency_objective()])
    assert analyze(exp, CANDIDATE_SLOW).winner_assessment.winner == "v1"
    both_slow = analyze(exp, {"shop/latency": {"v1": 90.0, "v2": 80.0}})
    assert not both_slow.winner_assessment.winner_found


def test_assessments_follow_spec_order_with_inclusive_bounds() -> None:
    objectives = [
        latency_objective(50),
        {"metric": "shop/errors", "upperLimit": "10m"},  # 0.01
        {"metric": "shop/conversion", "lowerLimit": 0.2, "upperLimit": 0.5},
    ]
    exp = experiment(objectives=objectives)
    values = {
        "shop/latency": {"v1": 50.0, "v2": 51.0},
        "shop/errors": {"v1": 0.01, "v2": 0.0},
        "shop/conversion": {"v1": 0.2, "v2": 0.19},
    }
    assert analyze(exp, values).version_assessments == {
        "v1": [True, True, True],
        "v2": [False, True, False],
    }


def test_missing_data_fails_the_objective() -> None:
    exp = experiment(objectives=[latency_objective()])
    result = analyze(exp, {"shop/latency": {"v1": 30.0, "v2": None}})
    assert result.version_assessments == {"v1": [True], "v2": [False]}
    assert result.winner_assessment.winner == "v1"
    assert (
        "Error from metrics backend for metric: shop/latency and version: v2"
        in (result.messages["aggregatedMetrics"])
    )


def test_missing_data_falls_back_to_the_previous_value() -> None:
    exp = experiment(objectives=[latency_objective()])
    exp = next_iteration(exp, analyze(exp, GOOD))
    result = analyze(exp, {"shop/latency": {"v1": 30.0}})  # v2 not returned at all
    # the previous value, and (beyond v2) why there is no fresh one
    assert result.aggregated_metrics["shop/latency"]["data"]["v2"] == {
        "value": 30,
        "message": "missing",
    }
    assert result.winner_assessment.winner == "v2"


def test_a_null_previous_value_is_no_data_not_a_crash() -> None:
    exp = experiment(objectives=[latency_objective()])
    exp = next_iteration(exp, analyze(exp, {"shop/latency": {"v1": 30.0, "v2": None}}))
    result = analyze(exp, {"shop/latency": {"v1": 30.0, "v2": None}})
    assert result.aggregated_metrics["shop/latency"]["data"]["v2"] == {
        "value": None,
        "message": "no-data",
    }
    assert result.version_assessments["v2"] == [False]


def test_bare_metric_names_resolve_to_the_experiment_namespace() -> None:
    exp = experiment(objectives=[{"metric": "latency", "upperLimit": 50}])
    result = analyze(exp, GOOD)  # observations are keyed shop/latency
    assert result.version_assessments == {"v1": [True], "v2": [True]}


def test_ab_with_a_reward_and_no_objectives_finds_the_winner() -> None:
    # Iter8 v2 crashed here before analytics PR #278 (iter8#791)
    exp = experiment("A/B", rewards=REWARD_HIGH)
    result = analyze(exp, {"shop/conversion": {"v1": 0.1, "v2": 0.12}})
    assert result.version_assessments == {}
    assert result.winner_assessment.winner == "v2"


def test_low_preferred_direction_picks_the_smallest() -> None:
    exp = experiment("A/B", rewards=[{"metric": "shop/cost", "preferredDirection": "Low"}])
    assert analyze(exp, {"shop/cost": {"v1": 3.0, "v2": 4.0}}).winner_assessment.winner == "v1"


def test_an_exact_tie_is_no_winner_but_both_are_best() -> None:
    exp = experiment("A/B", rewards=REWARD_HIGH)
    result = analyze(exp, {"shop/conversion": {"v1": 0.1, "v2": 0.1}})
    assert not result.winner_assessment.winner_found
    assert result.winner_assessment.best_versions == ["v1", "v2"]
    assert weights_of(result) == {"v1": 90, "v2": 10}  # target 50/50, ramp-capped


def test_the_reward_counts_only_among_feasible_versions() -> None:
    exp = experiment("A/B", rewards=REWARD_HIGH, objectives=[latency_objective()])
    values = {**CANDIDATE_SLOW, "shop/conversion": {"v1": 0.1, "v2": 0.9}}
    assert analyze(exp, values).winner_assessment.winner == "v1"


def test_a_feasible_version_without_a_reward_value_is_skipped() -> None:
    exp = experiment("A/B/N", versions=("v1", "v2", "v3"), rewards=REWARD_HIGH)
    result = analyze(exp, {"shop/conversion": {"v1": 0.1, "v2": None, "v3": 0.2}})
    assert result.winner_assessment.winner == "v3"
    assert (
        "no value of reward shop/conversion for feasible version v2"
        in (result.messages["winnerAssessment"])
    )


def test_ab_without_rewards_has_no_winner() -> None:
    result = analyze(experiment("A/B"), {})
    assert not result.winner_assessment.winner_found
    assert weights_of(result) == {"v1": 95, "v2": 5}


# --- the decision ------------------------------------------------------------------------------


def test_a_failed_rollback_objective_rolls_back_even_for_the_baseline() -> None:
    exp = experiment(objectives=[latency_objective(rollback_on_failure=True)])
    decision = analyze(exp, {"shop/latency": {"v1": 70.0, "v2": 30.0}}).decision
    assert decision.action == "rollback"
    assert decision.version == "v1"
    assert "v1: shop/latency ≤ 50: 70 fails" in decision.reason


def test_bluegreen_rolls_back_by_default_and_missing_data_counts() -> None:
    exp = experiment(objectives=[latency_objective()], deployment="BlueGreen")
    decision = analyze(exp, {"shop/latency": {"v1": 30.0, "v2": None}}).decision
    assert decision.action == "rollback"
    assert "v2: shop/latency ≤ 50: no data" in decision.reason


def test_without_the_rollback_flag_a_failure_continues() -> None:
    exp = experiment(objectives=[latency_objective()])
    decision = analyze(exp, CANDIDATE_SLOW).decision
    assert decision.action == "continue"
    assert "iteration 1 of 15" in decision.reason


def test_the_last_iteration_promotes_the_winner() -> None:
    exp = experiment(
        objectives=[latency_objective()], iterations=2, status={"completedIterations": 1}
    )
    decision = analyze(exp, GOOD).decision
    assert (decision.action, decision.version) == ("promote", "v2")
    assert "iteration 2 of 2" in decision.reason


def test_the_last_iteration_without_a_winner_keeps_the_baseline() -> None:
    exp = experiment("A/B", rewards=REWARD_HIGH, iterations=1)
    decision = analyze(exp, {"shop/conversion": {"v1": 0.1, "v2": 0.1}}).decision
    assert (decision.action, decision.version) == ("no-winner", "v1")
    assert "0.1" in decision.reason


def test_a_promotion_reason_carries_the_numbers() -> None:
    exp = experiment("A/B", rewards=REWARD_HIGH, iterations=1)
    decision = analyze(exp, {"shop/conversion": {"v1": 0.1, "v2": 0.125}}).decision
    assert decision.action == "promote"
    assert "v1 0.1, v2 0.125" in decision.reason


# --- the registry ------------------------------------------------------------------------------


def test_the_algorithm_is_found_by_its_name() -> None:
    assert algorithms()["iter8-v2"] is ALGORITHM
    assert get_algorithm("iter8-v2") is ALGORITHM


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownAlgorithm, match=r"unknown algorithm 'thompson' \(known: .*iter8-v2"):
        get_algorithm("thompson")


def test_an_experiment_without_versions_is_refused_clearly() -> None:
    exp = experiment().model_copy(deep=True)
    exp.spec.version_info = None
    with pytest.raises(ValueError, match=r"no spec\.versionInfo"):
        analyze(exp, {})
