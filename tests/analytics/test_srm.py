"""The sample-ratio check on counts that arrive on time, one period late, or from a broken split.

Each case drives `srm.update` period by period as the algorithm does: the split intended for the
period that just ended, then the cumulative request counts the backend answered with."""

from __future__ import annotations

import numpy as np
import pytest

from iter8.analytics.bayes import srm

NAMES = ("v1", "v2")
SPLITS = [(90, 10), (80, 20), (70, 30), (60, 40), (50, 50), (40, 60), (30, 70), (20, 80)]


def _fractions(split: tuple[int, int]) -> dict[str, float]:
    return {name: weight / 100 for name, weight in zip(NAMES, split, strict=True)}


def _run(lag: int, routed: list[tuple[int, int]], seed: int) -> srm.SrmResult:
    """`routed[k]` is how period k's 2,000 requests really went; the counts read after period k
    are those of period k - lag (none before)."""
    rng = np.random.default_rng(seed)
    cumulative = [np.zeros(2)]
    for share in routed:
        cumulative.append(cumulative[-1] + rng.multinomial(2000, np.array(share) / 100))
    state = srm.SrmState()
    for k, intended in enumerate(SPLITS):
        seen = k + 1 - lag
        counts = dict(zip(NAMES, cumulative[seen], strict=True)) if seen > 0 else {}
        state = srm.update(state, NAMES, counts, _fractions(intended))
    return srm.test(state, NAMES, 0.001)


@pytest.mark.parametrize("lag", [0, 1])
def test_counts_on_time_or_one_period_late_are_no_mismatch(lag: int) -> None:
    flagged = [_run(lag, SPLITS, seed).mismatch for seed in range(200)]
    assert sum(flagged) <= 2  # p < 0.001 per run: ~0.2 expected


@pytest.mark.parametrize("lag", [0, 1])
def test_a_split_that_is_not_routed_is_a_mismatch_on_time_or_late(lag: int) -> None:
    stuck = [(95, 5)] * len(SPLITS)  # the router never moved
    assert all(_run(lag, stuck, seed).mismatch for seed in range(50))


def test_the_state_survives_its_wire_form() -> None:
    state = srm.SrmState()
    for k, intended in enumerate(SPLITS[:3]):
        counts = {"v1": 1000.0 * (k + 1), "v2": 300.0 * k}
        state = srm.update(state, NAMES, counts, _fractions(intended))
    assert srm.SrmState.from_wire(state.to_wire()) == state
