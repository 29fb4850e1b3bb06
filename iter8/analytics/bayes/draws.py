"""Posterior draws, vectorised, all from the one seeded generator of the analysis step.

Percentiles use the aggregation property of the Dirichlet: buckets far from the quantile are
merged into one cell below and one above (exactly Dirichlet again), so a draw costs a dozen
gamma variates instead of one per bucket. A draw whose quantile falls into a merged cell is
interpolated across that cell (rare: the window spans ±`WINDOW` buckets around the estimate).
"""

from __future__ import annotations

import numpy as np

from iter8.analytics.bayes.beliefs import Belief, percentile_of

JEFFREYS = 0.5  # Beta(0.5, 0.5) prior for rates
WINDOW = 4  # buckets kept on each side of the estimated percentile


def draw(belief: Belief, rng: np.random.Generator, size: int) -> np.ndarray:
    """`size` draws from the belief's posterior."""
    if belief.kind == "rate":
        return rng.beta(JEFFREYS + belief.events, JEFFREYS + belief.n - belief.events, size)
    if belief.kind == "mean":
        return belief.value + belief.unit_sd / np.sqrt(belief.n) * rng.standard_normal(size)
    if belief.kind == "percentile":
        return _percentile_draws(belief, rng, size)
    if belief.kind == "value":
        return belief.value + belief.scale * rng.standard_normal(size)
    return np.full(size, belief.value)


def _percentile_draws(belief: Belief, rng: np.random.Generator, size: int) -> np.ndarray:
    counts, lowers, uppers = belief.counts, belief.lowers, belief.uppers
    buckets = len(counts)
    prior = 1.0 / buckets  # Dirichlet(counts + 1/K): one pseudo-observation spread evenly
    cumulative = np.cumsum(counts)
    centre = int(np.searchsorted(cumulative, belief.quantile * cumulative[-1]))
    low, high = max(0, centre - WINDOW), min(buckets, centre + WINDOW + 1)
    shape = [counts[low:high] + prior]
    cell_lowers, cell_uppers = [lowers[low:high]], [uppers[low:high]]
    if low > 0:
        shape.insert(0, np.array([counts[:low].sum() + prior * low]))
        cell_lowers.insert(0, lowers[:1])
        cell_uppers.insert(0, uppers[low - 1 : low])
    if high < buckets:
        shape.append(np.array([counts[high:].sum() + prior * (buckets - high)]))
        cell_lowers.append(lowers[high : high + 1])
        cell_uppers.append(uppers[-1:])
    gammas = rng.standard_gamma(np.concatenate(shape), size=(size, sum(len(s) for s in shape)))
    return percentile_of(
        np.concatenate(cell_lowers), np.concatenate(cell_uppers), gammas, belief.quantile
    )


def interval(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central credible interval at `level` (order statistics of the draws)."""
    ordered = np.sort(draws)
    tail = (1 - level) / 2
    last = len(ordered) - 1
    return float(ordered[round(tail * last)]), float(ordered[round((1 - tail) * last)])
