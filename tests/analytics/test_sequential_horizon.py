"""The horizon boundary (`sequential.horizon_z`): under the null, looking at every iteration with
an allocation that follows the data still errs at most α; the repeated fixed-sample test does
not. Monte Carlo over many seeded paths of the score in information time."""

from __future__ import annotations

import numpy as np

from iter8.analytics.bayes.sequential import horizon_scale, horizon_z

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
