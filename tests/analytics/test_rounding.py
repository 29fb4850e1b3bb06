"""Randomized rounding: integers summing exactly to the total, unbiased, fixed by the seed."""

from __future__ import annotations

import random
import statistics

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iter8.analytics.rounding import randomized_round

weight_lists = st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=8)


@given(weight_lists, st.integers(0, 1000), st.integers(0, 2**32 - 1))
def test_sums_to_the_total_and_stays_non_negative(
    weights: list[float], total: int, seed: int
) -> None:
    rounded = randomized_round(weights, total, random.Random(seed))
    assert sum(rounded) == total
    assert all(isinstance(v, int) and v >= 0 for v in rounded)
    mass = sum(weights)
    if mass > 0:  # a version with no weight gets no traffic
        assert all(v == 0 for v, w in zip(rounded, weights, strict=True) if w == 0)


@given(st.lists(st.integers(0, 100), min_size=1, max_size=6), st.integers(0, 1000))
def test_integers_that_already_sum_to_the_total_are_kept(parts: list[int], seed: int) -> None:
    total = sum(parts)
    assert randomized_round([float(p) for p in parts], total, random.Random(seed)) == parts


def test_the_first_weight_is_rounded_down_or_up_only() -> None:
    outcomes = {randomized_round([2.5, 97.5], 100, random.Random(s))[0] for s in range(200)}
    assert outcomes == {2, 3}


@pytest.mark.parametrize(
    "weights",
    [[10 / 3, 90 + 10 / 3, 10 / 3], [0.4, 0.4, 99.2], [33.3, 33.3, 33.4], [12.25, 50.5, 37.25]],
)
def test_each_weight_is_unbiased_over_many_seeds(weights: list[float]) -> None:
    runs = [randomized_round(weights, 100, np.random.default_rng(seed)) for seed in range(4000)]
    for index, expected in enumerate(weights):
        mean = statistics.fmean(run[index] for run in runs)
        assert mean == pytest.approx(expected, abs=0.06)  # ≥ 6 standard errors


def test_unnormalised_and_all_zero_weights_share_the_total() -> None:
    assert randomized_round([1.0, 1.0], 10, random.Random(0)) == [5, 5]
    assert randomized_round([0.0, 0.0, 0.0, 0.0], 100, random.Random(0)) == [25, 25, 25, 25]


def test_floating_point_dust_does_not_draw() -> None:
    class NoDraws:
        def random(self) -> float:
            raise AssertionError("a whole number was rounded at random")

    assert randomized_round([100 - 95.00000000000001, 95.00000000000001], 100, NoDraws()) == [5, 95]


def test_the_same_seed_gives_the_same_result() -> None:
    weights = [3.3, 3.3, 3.3, 90.1]
    first = randomized_round(weights, 100, np.random.default_rng(42))
    assert all(
        randomized_round(weights, 100, np.random.default_rng(42)) == first for _ in range(10)
    )


@pytest.mark.parametrize(
    ("weights", "total"), [([-1.0, 101.0], 100), ([float("nan")], 100), ([1.0], -1)]
)
def test_nonsense_is_refused(weights: list[float], total: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        randomized_round(weights, total, random.Random(0))
