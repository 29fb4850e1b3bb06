"""The horizon's stopping rules on objectives, over many seeded sequential experiments: a rate
looked at every iteration, checked by `objectives.check` as the algorithm does. The horizon
boundary keeps α at the limit and proves a rate just under it more often than the mixtures
alone; the futility boundary gives up a rate at the design effect in at most β of experiments."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.objectives import OBJECTIVE_MIXTURE_SHARE, Limits, check
from iter8.analytics.bayes.sequential import FUTILITY_BETA, POWER, horizon_z

ALPHA = 0.05
LIMIT = 0.05  # as a p95's share of requests beyond its limit
LOOKS = 20
PER_LOOK = 1000  # the version's requests per iteration
N_STAR = 10_000.0  # per version at the horizon, equal split of 2 versions
N_MAX = 2 * N_STAR  # all the traffic
LIMITS = Limits("ns/errors", None, LIMIT, rollback=False)
DRAWS = np.full(10, LIMIT / 2)  # P(holds) is reported only; the verdicts do not use it


def verdicts(rate: float, paths: int, seed: int, n_max: float | None) -> tuple[float, float]:
    """Shares of experiments whose objective was ever proven to hold, and ever futile."""
    rng = np.random.default_rng(seed)
    proven = futile = 0
    for _ in range(paths):
        events = np.cumsum(rng.binomial(PER_LOOK, rate, LOOKS))
        held = gave_up = False
        for look in range(LOOKS):
            n = PER_LOOK * (look + 1.0)
            belief = Belief("rate", events[look] / n, n=n, events=float(events[look]))
            c = check(belief, DRAWS, LIMITS, ALPHA, 0.05, 100, N_STAR, n_max)
            held, gave_up = held or c.verdict == "holds", gave_up or c.futile
            if held:
                break
        proven += held
        futile += gave_up
    return proven / paths, futile / paths


def test_the_horizon_boundary_keeps_alpha_at_the_limit() -> None:
    proven, _ = verdicts(LIMIT, 2000, seed=1, n_max=N_MAX)
    assert proven <= ALPHA + 0.01  # Monte Carlo sd ≈ 0.005


def test_the_horizon_boundary_proves_a_rate_just_under_the_limit_more_often() -> None:
    """4.4% against 5% (the heavy-tailed p95 5% under its limit): the mixtures alone need
    |z| ≈ 2.9 at the horizon, the boundary 2.1–2.6 depending on the share of traffic."""
    with_boundary, _ = verdicts(0.044, 600, seed=2, n_max=N_MAX)
    mixtures_only, _ = verdicts(0.044, 600, seed=2, n_max=None)
    assert with_boundary >= mixtures_only + 0.05


def test_futility_gives_up_a_rate_at_the_design_effect_at_most_beta_of_the_time() -> None:
    theta = horizon_z((1 - OBJECTIVE_MIXTURE_SHARE) * ALPHA, 1.0) + float(ndtri(POWER))
    design = LIMIT - theta * math.sqrt(LIMIT * (1 - LIMIT) / N_MAX)
    _, futile = verdicts(design, 1000, seed=3, n_max=N_MAX)
    assert futile <= FUTILITY_BETA + 0.015  # Monte Carlo sd ≈ 0.007
    _, hopeless = verdicts(LIMIT + 0.005, 300, seed=4, n_max=N_MAX)
    assert hopeless >= 0.5  # a rate just over the limit: given up on in most experiments


def test_no_futility_and_no_boundary_without_a_horizon() -> None:
    _, futile = verdicts(LIMIT + 0.01, 100, seed=5, n_max=None)
    assert futile == 0.0
