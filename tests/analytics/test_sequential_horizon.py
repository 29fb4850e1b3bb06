"""The horizon boundary (`sequential.horizon_z`): under the null, looking at every iteration with
an allocation that follows the data still errs at most α; the repeated fixed-sample test does
not. Its futility boundary (`sequential.futile`) gives up a version at the design effect in at
most β of experiments, and most with none. Monte Carlo over many seeded paths of the score in
information time."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from iter8.analytics.bayes.sequential import (
    FUTILITY_BETA,
    POWER,
    futile,
    horizon_scale,
    horizon_z,
)

ALPHA = 0.05
LOOKS = 20
PATHS = 20_000


def null_paths(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores S and informations I at each look; each look's information increment is chosen
    from the past (more when S leads, as a bandit feeding the leader would), up to I_max = 1."""
    rng = np.random.default_rng(seed)
    score = np.zeros(PATHS)
    information = np.zeros(PATHS)
    scores, informations = [], []
    for _ in range(LOOKS):
        step = np.where(score > 0, 1.0, 0.4) / LOOKS  # predictable: depends on the past only
        score = score + rng.normal(0.0, np.sqrt(step))
        information = information + step
        scores.append(score)
        informations.append(information)
    return np.array(scores), np.array(informations)


def test_every_look_with_a_data_driven_allocation_keeps_alpha() -> None:
    scores, informations = null_paths(1)
    z = scores / np.sqrt(informations)
    bound = np.vectorize(lambda fraction: horizon_z(ALPHA, fraction))(informations)
    rejected = (z >= bound).any(axis=0).mean()
    assert rejected <= ALPHA + 0.005  # Monte Carlo sd ≈ 0.0015
    assert rejected >= 0.02  # and it spends most of α: it is not a vacuous test


def test_the_same_paths_catch_repeated_fixed_sample_tests() -> None:
    scores, informations = null_paths(1)
    z = scores / np.sqrt(informations)
    assert (z >= 1.645).any(axis=0).mean() > 2 * ALPHA


def test_last_look_needs_far_less_than_a_mixture() -> None:
    assert abs(horizon_z(ALPHA, 1.0) - 1.96) < 0.01
    assert horizon_z(ALPHA, 0.25) > 3.9
    assert horizon_scale(ALPHA, None) is None
    assert horizon_scale(ALPHA, 20_000) < horizon_scale(ALPHA, 2_000)


def drifted_paths(seed: int, drift: float, trailing: float) -> tuple[np.ndarray, np.ndarray]:
    """As `null_paths`, with E[S] = drift × I (drift in units of √I_max, I_max = 1): the
    information a look brings again chosen from the past (less when S trails, as a bandit
    starving a version that looks worse would: `trailing` of a step)."""
    rng = np.random.default_rng(seed)
    score = np.zeros(PATHS)
    information = np.zeros(PATHS)
    scores, informations = [], []
    for _ in range(LOOKS):
        step = np.where(score > 0, 1.0, trailing) / LOOKS
        score = score + rng.normal(drift * step, np.sqrt(step))
        information = information + step
        scores.append(score)
        informations.append(information)
    return np.array(scores), np.array(informations)


def stopped_for_futility(drift: float, seed: int = 2, trailing: float = 0.3) -> float:
    scores, informations = drifted_paths(seed, drift, trailing)
    z = scores / np.sqrt(informations)
    stop = np.vectorize(lambda zz, t: futile(float(zz), float(t), ALPHA))(z, informations)
    return float(stop.any(axis=0).mean())


def test_futility_gives_up_a_version_at_the_design_effect_at_most_beta_of_the_time() -> None:
    design = horizon_z(ALPHA, 1.0) + float(ndtri(POWER))
    assert stopped_for_futility(design) <= FUTILITY_BETA + 0.005
    assert stopped_for_futility(design, trailing=1.0) <= FUTILITY_BETA + 0.005  # equal looks
    assert stopped_for_futility(1.5 * design) <= 0.01  # larger effects: even less


def test_futility_stops_most_experiments_with_no_effect_or_a_harmful_one() -> None:
    assert stopped_for_futility(0.0, trailing=1.0) >= 0.7
    assert stopped_for_futility(-2.0, trailing=1.0) >= 0.95
    # a bandit that starves the trailing version slows futility down (less information)
    assert stopped_for_futility(0.0) >= 0.2


def test_no_futility_without_a_horizon_or_past_it() -> None:
    assert not futile(-50.0, None, ALPHA)
    assert not futile(-50.0, 1.5, ALPHA)
    assert futile(-50.0, 0.5, ALPHA)
