"""Issue 8, fourth round: a Canary candidate not likely failing rides Iter8's increment cap; an
A/B splits equally until a decision, and its reward boundary spends 0.55α. Properties over many
seeded runs (the bench's simulator, and Monte Carlo paths of the reward test)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.decisions import policy_factory, seed_of
from bench.scenarios import SCENARIOS
from bench.world import World
from iter8.analytics.bayes import allocation
from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.rewards import compare
from iter8.analytics.bayes.settings import Settings

ALPHA = 0.05
TRAFFIC, LOOKS = 2000, 20
RIDE = 0.15  # `Settings.canary_ride`


def test_the_ride_threshold_is_the_default() -> None:
    assert Settings().canary_ride == RIDE


def steps(name: str, runs: int):
    """Per seeded run of the bench scenario `name`: (split before, split after, details) per
    step that continued."""
    scenario = next(s for s in SCENARIOS if s.name == name)
    index = SCENARIOS.index(scenario)
    make = policy_factory("bayesian", scenario)
    for run in range(runs):
        seed = seed_of(7, index, run)
        world = World(scenario, np.random.default_rng(np.random.SeedSequence([seed, 7])))
        policy = make(seed)
        weights = policy.start()
        for iteration in range(1, scenario.max_iterations + 1):
            world.serve(weights, 1)
            step = policy.step(iteration, world.snapshot())
            if step.action != "continue":
                break
            yield weights, step.weights, policy.last.details
            weights = step.weights


def test_a_canary_not_likely_failing_rides_the_increment_cap() -> None:
    """A compliant heavy-tailed candidate (p95 5% under its limit) whose P(feasible) is at least
    `canary_ride` gains the full increment every step (up to the baseline's floor): on its
    Thompson share (P(feasible)) a posterior dip cut it back (e.g. 29% -> 10%), and 5.7% of
    runs ended unproven at the horizon."""
    ride = RIDE
    checked = 0
    for before, after, details in steps("canary-heavy-tail-under", 40):
        if details["weights"]["held"] or details["pFeasible"]["v2"] is None:
            continue
        if details["pFeasible"]["v2"] >= ride:
            checked += 1
            assert after[1] == min(before[1] + 10, 98), (before, after, details["pFeasible"])
    assert checked > 200


def test_a_likely_failing_canary_keeps_its_thompson_share() -> None:
    both = np.array([True, True])
    assert allocation.ridden(np.array([1.0, 0.1]), both, 0.15) is None
    assert allocation.ridden(np.array([1.0, 0.2]), both, 0.15) == 1
    assert allocation.every_vote(1, 2).tolist() == [0.0, 1.0]
    # an eliminated candidate rides nothing
    assert allocation.ridden(np.array([1.0, 0.9]), np.array([True, False]), 0.15) is None


def test_an_ab_splits_equally_until_a_decision() -> None:
    """Two live versions of an A/B with no decision yet: the candidate ramps +10 a step to an
    equal split and stays there, whatever the posterior says (Thompson sampling gave the leader
    more, which cost the reward test its information at the horizon), until it is at least
    `Settings.leader_ride` likely best (the eighth round: it then rides the cap)."""
    checked = 0
    for before, after, details in steps("ab-no-difference", 30):
        if details["weights"]["held"] or details["eliminated"]:
            continue
        if (details["pBest"]["v2"] or 0.0) >= Settings().leader_ride:
            continue
        checked += 1
        assert after[1] == min(before[1] + 10, 50), (before, after)
    assert checked > 200


def null_promotions(p_candidate: float, paths: int, seed: int) -> float:
    """Share of A/B experiments whose reward test proves the candidate better at some look, on
    the equal split the algorithm now uses (2%, 12%, ... 50%), with the bench's traffic."""
    rng = np.random.default_rng(seed)
    n_star = TRAFFIC * LOOKS / 2
    proven = 0
    for _ in range(paths):
        counts = np.zeros(2)
        events = np.zeros(2)
        for look in range(LOOKS):
            share = min(0.02 + 0.10 * look, 0.5)
            served = np.array([TRAFFIC * (1 - share), TRAFFIC * share])
            counts += served
            events += rng.binomial(served.astype(int), [0.10, p_candidate])
            beliefs = {
                name: Belief("rate", events[i] / counts[i], n=counts[i], events=events[i])
                for name, i in (("v2", 1), ("v1", 0))
            }
            draws = {"v2": np.zeros(1), "v1": np.zeros(1)}
            pair = ("v2", "v1")
            comparison = compare([pair], beliefs, draws, True, 0.05, ALPHA, 0.05, n_star)[pair]
            if comparison.proven(ALPHA):
                proven += 1
                break
    return proven / paths


@pytest.mark.parametrize("seed", [1, 2])
def test_a_null_ab_promotes_in_at_most_two_percent(seed: int) -> None:
    """Issue 8 asks 98% correct in a null A/B: the reward test on the equal split, looked at
    every iteration, promotes in ≤ 2% of experiments (it spent 3α/4 on the boundary before:
    ~2.5% on these paths)."""
    assert null_promotions(0.10, 2500, seed) <= 0.02  # Monte Carlo sd ≈ 0.0027


def test_a_ten_percent_lift_is_still_proven_in_most_experiments() -> None:
    """The price of the smaller boundary: a 10% relative lift (11% vs 10%) is still proven by
    the horizon in ≥ 85% of experiments (the issue's target for the bench's ab-slightly-better)."""
    assert null_promotions(0.11, 600, 3) >= 0.85
