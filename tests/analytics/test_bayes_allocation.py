"""Weights: integers summing to exactly 100, within Iter8's caps, deterministic for a seed."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from iter8.analytics.bayes import allocation


@given(
    votes=st.lists(st.floats(0, 1), min_size=2, max_size=8),
    current=st.lists(st.integers(0, 100), min_size=8, max_size=8),
    max_weight=st.integers(0, 100),
    increment=st.integers(0, 100),
    floor=st.floats(0, 10),
    eliminated=st.lists(st.booleans(), min_size=8, max_size=8),
)
@settings(max_examples=300, deadline=None)
def test_weights_sum_to_100_and_respect_caps(
    votes: list[float],
    current: list[int],
    max_weight: int,
    increment: int,
    floor: float,
    eliminated: list[bool],
) -> None:
    names = [f"v{i}" for i in range(len(votes))]
    active = np.array([i == 0 or not eliminated[i] for i in range(len(votes))])
    in_force = dict(zip(names, current, strict=False))
    caps = allocation.caps(names, in_force, max_weight, increment)
    target = allocation.split(np.array(votes), active, floor)
    weights = allocation.round_to_100(allocation.capped(target, caps), caps)
    assert sum(weights) == 100
    assert all(w >= 0 for w in weights)
    for i in range(1, len(names)):
        assert weights[i] <= min(max_weight, in_force[names[i]] + increment)
        if not active[i]:
            assert weights[i] == 0


def test_floor_keeps_every_surviving_version_measured() -> None:
    target = allocation.split(np.array([1.0, 0.0, 0.0]), np.array([True, True, False]), 2.0)
    assert target[1] >= 2.0 and target[2] == 0.0
    assert target.sum() == 100.0


def test_rounding_is_unbiased_in_total_and_stable() -> None:
    weights = np.array([33.4, 33.3, 33.3])
    assert allocation.round_to_100(weights, [100, 100, 100]) == [34, 33, 33]
    caps = [100, 10, 100]
    capped = allocation.capped(np.array([0.0, 99.6, 0.4]), caps)
    assert allocation.round_to_100(capped, caps) == [90, 10, 0]


def test_thompson_votes_follow_the_posterior() -> None:
    rng = np.random.default_rng(0)
    draws = np.stack([rng.normal(0.10, 0.01, 4000), rng.normal(0.12, 0.01, 4000)])
    feasible = np.ones_like(draws)
    votes = allocation.reward_votes(draws[None], feasible, np.array([True, True]), rng)
    assert votes.sum() == 1.0
    assert 0.89 < votes[1] < 0.94  # P(N(.12,.01) > N(.10,.01)) = Φ(√2) ≈ 0.92


def test_infeasible_draws_back_the_baseline() -> None:
    rng = np.random.default_rng(1)
    feasible = np.zeros((2, 1000))
    votes = allocation.canary_votes(feasible, np.array([True, True]), rng)
    assert votes.tolist() == [1.0, 0.0]


def test_pareto_votes_split_between_non_dominated_versions() -> None:
    rng = np.random.default_rng(2)
    rewards = np.array([[[1.0] * 10, [2.0] * 10, [0.5] * 10], [[1.0] * 10, [0.5] * 10, [0.4] * 10]])
    votes = allocation.reward_votes(rewards, np.ones((3, 10)), np.array([True] * 3), rng)
    assert votes.tolist() == [0.5, 0.5, 0.0]  # v3 is dominated by v1 on both rewards


def test_floor_gives_a_version_at_its_limit_a_bad_event_every_few_iterations() -> None:
    # 1% limit, 2 iterations: 50 requests per iteration; of 2,000 that is 2.5%
    assert allocation.floor(0.01, 2000.0, 2, 1.0, 2.0) == 2.5
    # 50 requests per iteration cannot give 50 to each: an equal split
    assert allocation.floor(0.01, 50.0, 2, 1.0, 2.0) == 50.0
    assert allocation.floor(0.01, 50.0, 4, 1.0, 2.0) == 25.0
    # much traffic: the minimum; nothing known yet: the minimum
    assert allocation.floor(0.05, 1e6, 2, 1.0, 2.0) == 1.0
    assert allocation.floor(None, None, 2, 1.0, 2.0) == 1.0


def test_likely_failing_needs_a_low_posterior_and_evidence_leaning_to_harm() -> None:
    assert allocation.likely_failing(0.3, 0.2, 0.5)
    assert not allocation.likely_failing(0.3, -0.2, 0.5)  # the data do not lean to harm
    assert not allocation.likely_failing(0.6, 2.0, 0.5)  # more likely feasible than not
    assert not allocation.likely_failing(None, 2.0, 0.5)  # no data: unknown is not bad


def test_votes_of_versions_kept_at_their_floor_go_to_the_baseline() -> None:
    votes = np.array([0.3, 0.5, 0.2])
    moved = allocation.without(votes, np.array([False, True, False]))
    assert moved.tolist() == [0.8, 0.0, 0.2]
    target = allocation.split(moved, np.array([True, True, True]), 2.5)
    assert target[1] == 2.5  # only the floor


def test_votes_below_power_one_are_flattened_and_keep_their_order() -> None:
    flat = allocation.sharpened(np.array([0.75, 0.25]), 0.5)
    assert flat[1] > 0.25 and flat[0] > flat[1]
    assert abs(flat.sum() - 1.0) < 1e-12
    assert allocation.sharpened(np.array([0.75, 0.25]), 1.0).tolist() == [0.75, 0.25]


def test_the_floor_is_total_at_the_edges_of_the_floats() -> None:
    """A subnormal limit rate underflows the expected bad events to 0 (found by the totality
    test: ZeroDivisionError); it asks for as much traffic as there is, an equal share. A limit
    rate beyond the floats asks for nothing beyond the minimum."""
    assert allocation.floor(5e-324, 2000.0, 2, 1.0, 2.0) == 50.0
    assert allocation.floor(1e300, 1e300, 2, 1.0, 2.0) == 1.0
    assert allocation.floor(float("nan"), 2000.0, 2, 1.0, 2.0) == 1.0


@given(
    start=st.integers(0, 100),
    max_weight=st.integers(0, 100),
    increment=st.integers(0, 100),
    horizon=st.integers(1, 30),
    first=st.integers(1, 5),
    choices=st.lists(st.floats(0, 1), min_size=30, max_size=30),
)
@settings(max_examples=300, deadline=None)
def test_no_split_within_the_caps_routes_more_than_the_ramp_bound(
    start: int, max_weight: int, increment: int, horizon: int, first: int, choices: list[float]
) -> None:
    """Whatever weights the steps choose within Iter8's caps (any share of the cap), the
    candidate's requests stay within `most_requests`: a bound a test's I_max may use."""
    per_iteration = 2000.0
    served, weight = per_iteration * max(0, first - 1), start  # before `first`: all counted
    for iteration in range(first, horizon + 1):
        served += per_iteration * weight / 100
        cap = min(max_weight, weight + increment)
        weight = int(choices[iteration - 1] * cap)
    bound = allocation.most_requests(per_iteration, horizon, first, start, max_weight, increment)
    assert served <= bound + 1e-6


def test_the_ramp_bound_with_iter8s_defaults() -> None:
    """From 2% at the first iteration, +10 a step up to 100, over 20 iterations: 73.5%."""
    assert allocation.most_requests(2000, 20, 1, 2, 100, 10) == 0.735 * 40000
    assert allocation.most_requests(2000, 20, 1, 0, 50, 10) == 2000 * 8.5  # Flagger-like cap
