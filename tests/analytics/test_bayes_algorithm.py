"""The `bayesian` algorithm as the analyze function calls it: status in, result out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from iter8.analytics.algorithm import AnalysisInput, AnalysisResult
from iter8.analytics.algorithms.bayesian import ALGORITHM
from iter8.analytics.observations import Bucket, Histogram, Observation, Observations
from iter8.analytics.registry import algorithms
from iter8.api.experiment import Experiment

NS = "shop"
ERRORS, LATENCY, CONVERSION, REQUESTS = (
    f"{NS}/error-rate",
    f"{NS}/latency-95th-percentile",
    f"{NS}/conversion-rate",
    f"{NS}/request-count",
)
EDGES = [0, 50, 100, 150, 200, 250, 300, 500, 1000]


def experiment(
    pattern: str = "Canary",
    versions: tuple[str, ...] = ("v1", "v2"),
    status: dict[str, Any] | None = None,
    weights: dict[str, int] | None = None,
    iterations: int = 20,
    rollback: bool | None = None,
    reward: bool | None = None,
) -> Experiment:
    objective: dict[str, Any] = {"metric": ERRORS, "upperLimit": "0.01"}
    if rollback is not None:
        objective["rollback_on_failure"] = rollback
    criteria: dict[str, Any] = {
        "requestCount": REQUESTS,
        "objectives": [objective, {"metric": LATENCY, "upperLimit": 250}],
    }
    if reward if reward is not None else pattern in ("A/B", "A/B/N"):
        criteria["rewards"] = [{"metric": CONVERSION, "preferredDirection": "High"}]
    strategy: dict[str, Any] = {"testingPattern": pattern}
    if weights:
        strategy["weights"] = weights
    manifest: dict[str, Any] = {
        "metadata": {"name": "exp", "namespace": NS},
        "spec": {
            "target": f"{NS}/app",
            "strategy": strategy,
            "criteria": criteria,
            "duration": {"iterationsPerLoop": iterations},
            "versionInfo": {
                "baseline": {"name": versions[0]},
                "candidates": [{"name": v} for v in versions[1:]],
            },
        },
    }
    if status is not None:
        manifest["status"] = status
    return Experiment.from_wire(manifest)


def latency(n: int, slow_share: float = 0.01) -> Histogram:
    shares = np.array(
        [
            0.2,
            0.4,
            0.25,
            0.1,
            0.05 - slow_share,
            slow_share * 0.6,
            slow_share * 0.3,
            slow_share * 0.1,
        ]
    )
    counts = np.round(shares / shares.sum() * n)
    return Histogram(
        buckets=[
            Bucket(lower=lo, upper=up, count=c)
            for lo, up, c in zip(EDGES[:-1], EDGES[1:], counts, strict=True)
        ]
    )


def data(
    per_version: Mapping[str, tuple[int, float, float]],  # n, error rate, conversion
) -> Observations:
    result: Observations = {REQUESTS: {}, ERRORS: {}, LATENCY: {}, CONVERSION: {}}
    for version, (n, errors, conversion) in per_version.items():
        result[REQUESTS][version] = Observation(value=n)
        result[ERRORS][version] = Observation(value=errors, sample_size=n)
        result[CONVERSION][version] = Observation(value=conversion, sample_size=n)
        result[LATENCY][version] = Observation(value=160.0, histogram=latency(n))
    return result


def analyze(exp: Experiment, observed: Observations, seed: int = 0) -> AnalysisResult:
    return ALGORITHM.analyze(AnalysisInput(exp, {}, observed, seed))


def following(exp: Experiment, result: AnalysisResult) -> Experiment:
    """The next iteration's experiment, as the analyze and route functions leave it."""
    status = exp.status.to_wire() if exp.status else {}
    if result.weights:
        status["currentWeightDistribution"] = [w.to_wire() for w in result.weights]
    status["analysis"] = {
        "aggregatedMetrics": {"data": result.aggregated_metrics},
        "details": result.details,
    }
    status["completedIterations"] = status.get("completedIterations", 0) + 1
    return Experiment.from_wire({**exp.to_wire(), "status": status})


def test_it_is_registered_as_the_default() -> None:
    assert "bayesian" in algorithms()
    assert ALGORITHM.name == "bayesian"


def test_same_seed_same_result_and_weights_sum_to_100() -> None:
    exp = experiment("A/B")
    observed = data({"v1": (3000, 0.004, 0.10), "v2": (3000, 0.004, 0.11)})
    first, again = analyze(exp, observed, seed=7), analyze(exp, observed, seed=7)
    assert first.weights == again.weights
    assert first.details["pBest"] == again.details["pBest"]
    assert sum(w.value for w in first.weights) == 100


def test_weights_respect_max_weight_and_increment() -> None:
    status = {
        "currentWeightDistribution": [{"name": "v1", "value": 80}, {"name": "v2", "value": 20}]
    }
    exp = experiment(
        "A/B", status=status, weights={"maxCandidateWeight": 30, "maxCandidateWeightIncrement": 5}
    )
    # requests as the 80/20 split routed them (counts that do not follow it move nothing)
    observed = data({"v1": (4800, 0.004, 0.10), "v2": (1200, 0.004, 0.15)})
    for seed in range(5):
        weights = {w.name: w.value for w in analyze(exp, observed, seed).weights}
        assert weights == {"v1": 75, "v2": 25}  # wants ~98, may rise 5 from 20


def test_details_are_plain_json() -> None:
    result = analyze(experiment("A/B"), data({"v1": (0, 0.0, 0.0), "v2": (10, 0.0, 0.1)}))
    json.dumps(result.details, allow_nan=False)


@pytest.mark.parametrize("outcome", ["no-data", "empty", "nan", "timeout", "error"])
def test_unknown_data_is_no_failure(outcome: str) -> None:
    exp = experiment("A/B")
    missing = Observation(outcome=outcome, message="backend trouble")  # type: ignore[arg-type]
    observed = {
        key: {"v1": missing, "v2": missing} for key in (REQUESTS, ERRORS, LATENCY, CONVERSION)
    }
    result = analyze(exp, observed)
    assert result.decision.action == "continue"
    assert result.details["eliminated"] == {}
    assert {w.name: w.value for w in result.weights} == {"v1": 100, "v2": 0}  # held: no data
    assert result.details["weights"]["held"]
    assert all(c["verdict"] == "unknown" for c in result.details["objectives"]["v2"])


def test_nothing_observed_at_all_does_not_crash() -> None:
    result = analyze(experiment("A/B/N", versions=("a", "b", "c")), {})
    assert result.decision.action == "continue"
    assert sum(w.value for w in result.weights) == 100


def test_a_lost_query_keeps_the_last_evidence() -> None:
    exp = experiment("Canary")
    first = analyze(exp, data({"v1": (2000, 0.004, 0.1), "v2": (2000, 0.004, 0.1)}))
    lost = Observation(outcome="timeout")
    second = analyze(following(exp, first), {ERRORS: {"v1": lost, "v2": lost}})
    assert second.details["missingData"]["stale"]
    before = first.details["objectives"]["v2"][0]["pHolds"]
    assert second.details["objectives"]["v2"][0]["pHolds"] == pytest.approx(before, abs=0.05)
    assert second.details["eliminated"] == {}


def test_canary_promotes_once_every_objective_is_proven() -> None:
    result = analyze(
        experiment("Canary"), data({"v1": (8000, 0.003, 0.1), "v2": (8000, 0.003, 0.1)})
    )
    assert result.decision.action == "promote" and result.decision.version == "v2"
    assert "proven" in result.decision.reason
    assert result.winner_assessment.winner == "v2"


def test_canary_rolls_back_a_clear_violation() -> None:
    result = analyze(experiment("Canary"), data({"v1": (800, 0.003, 0.1), "v2": (800, 0.05, 0.1)}))
    assert result.decision.action == "rollback" and result.decision.version == "v1"
    assert "error-rate" in result.decision.reason


def test_rollback_on_failure_objective_stops_at_once() -> None:
    exp = experiment("A/B", rollback=True)
    result = analyze(exp, data({"v1": (800, 0.05, 0.1), "v2": (800, 0.003, 0.1)}))
    assert result.decision.action == "rollback"
    assert "rollback_on_failure" in result.decision.reason


def test_conformance_promotes_a_proven_baseline_without_weights() -> None:
    exp = experiment("Conformance", versions=("v1",))
    result = analyze(exp, data({"v1": (8000, 0.003, 0.1)}))
    assert result.decision.action == "promote" and result.decision.version == "v1"
    assert result.weights == []


def test_last_iteration_without_proof_is_no_winner() -> None:
    status = {"completedIterations": 4}
    exp = experiment("A/B", status=status, iterations=5)
    result = analyze(exp, data({"v1": (500, 0.004, 0.10), "v2": (500, 0.004, 0.105)}))
    assert result.decision.action == "no-winner"
    assert result.decision.version == "v1"


def test_a_sample_ratio_mismatch_blocks_promotion() -> None:
    """The split in force says 50/50; the counts say 90/10."""
    split = [{"name": "v1", "value": 50}, {"name": "v2", "value": 50}]
    exp = experiment("Canary", status={"currentWeightDistribution": split})
    first = analyze(exp, data({"v1": (9000, 0.003, 0.1), "v2": (1000, 0.003, 0.1)}))
    nxt = following(exp, first)
    nxt = Experiment.from_wire(
        {**nxt.to_wire(), "status": {**nxt.status.to_wire(), "currentWeightDistribution": split}}
    )  # type: ignore[union-attr]
    second = analyze(nxt, data({"v1": (27000, 0.003, 0.1), "v2": (3000, 0.003, 0.1)}))
    assert second.details["srm"]["mismatch"] is True
    assert second.decision.action == "continue"
    assert "sample-ratio mismatch" in second.decision.reason


def test_a_reward_without_sample_size_is_judged_across_iterations() -> None:
    """Iter8 v2's quickstart: a mocked user-engagement without sample size. One iteration of
    15 vs 20 proves nothing; the paired per-iteration differences do, once they are clear."""
    exp = experiment("A/B")
    rng = np.random.default_rng(3)
    actions = []
    for i in range(12):
        observed = data({"v1": (8000 * (i + 1), 0.003, 0.1), "v2": (8000 * (i + 1), 0.003, 0.1)})
        observed[CONVERSION] = {
            "v1": Observation(value=float(rng.normal(15, 1))),
            "v2": Observation(value=float(rng.normal(20, 1))),
        }
        result = analyze(exp, observed, seed=i)
        actions.append(result.decision.action)
        if i == 0:
            assert result.details["comparisons"] == []  # one value each: no evidence yet
            assert result.decision.action == "continue"
        if result.decision.action != "continue":
            break
        even = [{"name": "v1", "value": 50}, {"name": "v2", "value": 50}]  # as the data are split
        status = {**following(exp, result).status.to_wire(), "currentWeightDistribution": even}  # type: ignore[union-attr]
        exp = Experiment.from_wire({**exp.to_wire(), "status": status})
    assert actions[-1] == "promote" and result.decision.version == "v2"
    assert result.details["comparisons"][0]["tested"] is True
    assert "per-iteration variation" in result.decision.reason


def test_ab_no_difference_is_not_given_up_on_before_the_horizon_and_ends_without_promotion() -> (
    None
):
    """No posterior-odds futility: equal versions wait for proof, and the last iteration keeps
    the baseline."""
    observed = data({"v1": (20000, 0.004, 0.100), "v2": (20000, 0.004, 0.100)})
    assert analyze(experiment("A/B"), observed).decision.action == "continue"
    last = analyze(experiment("A/B", status={"completedIterations": 19}), observed)
    assert last.decision.action == "no-winner" and last.decision.version == "v1"


def test_relative_objective_rolls_back_a_candidate_worse_than_the_baseline() -> None:
    """Both meet the absolute 1% limit; the candidate's errors are 2.2× the baseline's."""
    exp = experiment("Canary")
    manifest = exp.to_wire()
    manifest["spec"]["criteria"]["relativeObjectives"] = [{"metric": ERRORS, "upperLimit": "1.5"}]
    exp = Experiment.from_wire(manifest)
    result = analyze(exp, data({"v1": (20000, 0.004, 0.1), "v2": (20000, 0.009, 0.1)}))
    assert result.decision.action == "rollback"
    assert "× baseline" in result.decision.reason
    assert len(result.version_assessments["v2"]) == 2  # v2's shape: spec objectives only
    same = analyze(exp, data({"v1": (100000, 0.004, 0.1), "v2": (100000, 0.004, 0.1)}))
    assert same.decision.action == "promote"


def test_settings_come_from_annotations() -> None:
    """A stricter α per experiment: the same data no longer proves the candidate safe."""
    observed = data({"v1": (3000, 0.003, 0.1), "v2": (3000, 0.003, 0.1)})
    assert analyze(experiment("Canary"), observed).decision.action == "promote"
    manifest = experiment("Canary").to_wire()
    manifest["metadata"]["annotations"] = {"iter8.tools/bayesian.alpha": "0.0001"}
    strict = analyze(Experiment.from_wire(manifest), observed)
    assert strict.details["alpha"] == 0.0001
    assert strict.decision.action == "continue"


SIGNUP = f"{NS}/signup-rate"


def pareto(signups: tuple[float, float], n: int = 20000) -> tuple[Experiment, Observations]:
    manifest = experiment("A/B").to_wire()
    manifest["spec"]["strategy"]["testingPattern"] = "Pareto"
    manifest["spec"]["criteria"]["rewards"].append({"metric": SIGNUP, "preferredDirection": "High"})
    observed = data({"v1": (n, 0.004, 0.10), "v2": (n, 0.004, 0.13)})
    observed[SIGNUP] = {
        v: Observation(value=rate, sample_size=n)
        for v, rate in zip(("v1", "v2"), signups, strict=True)
    }
    return Experiment.from_wire(manifest), observed


def test_pareto_promotes_a_candidate_that_dominates_the_baseline() -> None:
    """Better conversion, the same signups: dominates within the tolerance."""
    result = analyze(*pareto((0.05, 0.05)))
    assert result.decision.action == "promote" and result.decision.version == "v2"
    assert "dominates" in result.decision.reason
    assert result.details["paretoFront"] == ["v2"]


def test_pareto_keeps_the_baseline_when_the_candidate_trades_one_reward_for_another() -> None:
    """Better conversion, 40% fewer signups (the tolerance is 20%): on the front, but it does
    not dominate."""
    result = analyze(*pareto((0.05, 0.03)))
    assert result.decision.action == "rollback" and result.decision.version == "v1"
    assert "by more than 20%" in result.decision.reason
    assert result.details["paretoFront"] == ["v1", "v2"]


def test_pareto_does_not_give_up_a_candidate_worse_only_within_the_tolerance() -> None:
    """10% fewer signups is within the 20% the promotion rule tolerates, so being proven worse
    is no reason to roll it back (it was: the elimination asked for "worse" by any margin, and
    rolled back 2.1% of the bench's dominating candidates with equal signups); it wins."""
    result = analyze(*pareto((0.05, 0.045), n=100000))
    assert result.decision.action == "promote" and result.decision.version == "v2"


def test_the_horizon_waits_for_every_versions_request_count() -> None:
    """One version's count alone (the other's query failed) is not the traffic: fixed from it,
    the horizon's I_max was a fortieth of the truth (futility then gave up a clearly better
    candidate at iteration 4 in ab-dropped-queries)."""
    exp = experiment("A/B")
    observed = data({"v1": (1950, 0.004, 0.10), "v2": (50, 0.004, 0.13)})
    for per in observed.values():  # every query about the baseline failed this iteration
        per["v1"] = Observation(outcome="timeout")
    first = analyze(exp, observed)
    assert first.details["horizon"]["requestsPerIteration"] == 0.0  # not known yet
    second = analyze(
        following(exp, first), data({"v1": (3900, 0.004, 0.1), "v2": (100, 0.004, 0.13)})
    )
    assert second.details["horizon"]["requestsPerIteration"] == pytest.approx(2000.0)


def test_a_progressive_candidates_information_horizon_is_what_the_caps_allow() -> None:
    """From 2% at the first step, +10 a step, the candidate can have 73.5% of 20 iterations'
    traffic: its objectives' I_max (it was all the traffic, which asked a z 15% too high at
    every look); the baseline's is all of it. Fixed at the first step, before any data:
    later steps keep it whatever split they set."""
    split = [{"name": "v1", "value": 98}, {"name": "v2", "value": 2}]
    exp = experiment("Canary", status={"currentWeightDistribution": split})
    first = analyze(exp, data({"v1": (1960, 0.004, 0.1), "v2": (40, 0.004, 0.1)}))
    bound = first.details["horizon"]["mostRequests"]
    assert bound["v1"] == pytest.approx(40000.0)
    assert bound["v2"] == pytest.approx(0.735 * 40000.0)
    second = analyze(
        following(exp, first), data({"v1": (3800, 0.004, 0.1), "v2": (200, 0.004, 0.1)})
    )
    assert second.details["horizon"]["mostRequests"] == bound
    fixed = experiment("Canary", status={"currentWeightDistribution": split}).to_wire()
    fixed["spec"]["strategy"]["deploymentPattern"] = "FixedSplit"  # the user's split routes
    unbound = analyze(
        Experiment.from_wire(fixed), data({"v1": (1960, 0.004, 0.1), "v2": (40, 0.004, 0.1)})
    )
    assert unbound.details["horizon"]["mostRequests"]["v2"] == pytest.approx(40000.0)
