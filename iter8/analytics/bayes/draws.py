"""Posterior draws, vectorised, all from the one seeded generator of the analysis step.

Percentiles use the aggregation property of the Dirichlet: buckets far from the quantile are
merged into one cell below and one above (exactly Dirichlet again), so a draw costs a few
gamma variates instead of one per bucket. A draw whose quantile falls into a merged cell is
interpolated across that cell (rare: the window spans ±`WINDOW` buckets around the estimate).
Gamma variates of shape ≥ `WILSON_HILFERTY` come from the Wilson–Hilferty cube of a normal
(relative error below 1e-3 there), which is several times cheaper than exact gamma sampling.
A belief without evidence (nothing measured, or a value seen fewer than twice) gets no draws:
its metric is unknown for that version, which never moves traffic (`bayes.evidence`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from iter8.analytics.bayes import iterations
from iter8.analytics.bayes.beliefs import Belief, percentiles_of

JEFFREYS = 0.5  # Beta(0.5, 0.5) prior for rates
WINDOW = 3  # buckets kept on each side of the estimated percentile
WILSON_HILFERTY = 10.0  # shapes from which gamma variates are drawn by the normal cube


def draw(belief: Belief, rng: np.random.Generator, size: int) -> np.ndarray:
    """`size` draws from the belief's posterior."""
    if belief.kind == "rate":
        return rng.beta(JEFFREYS + belief.events, JEFFREYS + belief.n - belief.events, size)
    if belief.kind == "mean":
        result = rng.standard_normal(size)
        result *= belief.unit_sd / np.sqrt(belief.n)  # in place, as value + sd/√n · z
        result += belief.value
        return result
    if belief.kind == "percentile":
        return percentile_draws(belief, [belief.quantile], rng, size)[0]
    if belief.kind == "value" and belief.series is not None:
        return iterations.draws(belief.series, rng, size)
    return np.full(size, belief.value)


def share(mask: np.ndarray) -> float:
    """The mean of a mask over the draws (the share of draws it holds for), as `mask.mean()`
    gives it to the last bit, without the ~10 µs of numpy's `mean` machinery per call."""
    return float(mask.sum()) / mask.size


def draw_all(
    beliefs: Sequence[tuple[str, str, Belief]], rng: np.random.Generator, size: int
) -> dict[str, dict[str, np.ndarray]]:
    """Draws for (key, version, belief) triples, in order. Percentiles of one histogram (p50,
    p95, p99 of the same latency) share one Dirichlet draw: consistent, and cheaper."""
    beliefs = [(key, version, belief) for key, version, belief in beliefs if belief.evidence]
    shared: dict[tuple[str, bytes, bytes], list[tuple[str, Belief]]] = {}
    for key, version, belief in beliefs:
        if belief.kind == "percentile":
            group = (version, belief.counts.tobytes(), belief.uppers.tobytes())
            shared.setdefault(group, []).append((key, belief))
    result: dict[str, dict[str, np.ndarray]] = {}
    done: set[tuple[str, bytes, bytes]] = set()
    for key, version, belief in beliefs:
        if belief.kind != "percentile":
            result.setdefault(key, {})[version] = draw(belief, rng, size)
            continue
        group = (version, belief.counts.tobytes(), belief.uppers.tobytes())
        if group in done:
            continue
        done.add(group)
        members = shared[group]
        quantiles = [b.quantile for _, b in members]
        for (member, _), sample in zip(
            members, percentile_draws(belief, quantiles, rng, size), strict=True
        ):
            result.setdefault(member, {})[version] = sample
    return result


def percentile_draws(
    belief: Belief, quantiles: Sequence[float], rng: np.random.Generator, size: int
) -> list[np.ndarray]:
    """Draws of each quantile of the belief's histogram, from one Dirichlet draw."""
    counts, lowers, uppers = belief.counts, belief.lowers, belief.uppers
    buckets = len(counts)
    prior = 1.0 / buckets  # Dirichlet(counts + 1/K): one pseudo-observation spread evenly
    cumulative = np.cumsum(counts)
    centres = [int(np.searchsorted(cumulative, q * cumulative[-1])) for q in quantiles]
    low, high = max(0, min(centres) - WINDOW), min(buckets, max(centres) + WINDOW + 1)
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
    gammas = gamma_draws(np.concatenate(shape), rng, size)
    edges = np.concatenate(cell_lowers), np.concatenate(cell_uppers)
    return percentiles_of(*edges, gammas, quantiles)


def gamma_draws(shapes: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """size × len(shapes) independent Gamma(shape, 1) variates."""
    large = shapes >= WILSON_HILFERTY
    if not large.any():
        return rng.standard_gamma(shapes, size=(size, len(shapes)))
    result = np.empty((size, len(shapes)))
    k = shapes[large]
    cube = rng.standard_normal((size, len(k)))
    cube *= 1.0 / (3.0 * np.sqrt(k))
    cube += 1.0 - 1.0 / (9.0 * k)
    np.maximum(cube, 0.0, out=cube)
    result[:, large] = k * cube * cube * cube
    if not large.all():
        result[:, ~large] = rng.standard_gamma(shapes[~large], size=(size, int((~large).sum())))
    return result


def summaries(
    samples: Sequence[np.ndarray], level: float = 0.95
) -> tuple[list[float], list[float], list[float]]:
    """Each sample's mean and central credible interval at `level` (its order statistics), the
    samples of one size stacked and sorted in one call."""
    by_size: dict[int, list[int]] = {}
    for i, sample in enumerate(samples):
        by_size.setdefault(len(sample), []).append(i)
    means, lows, highs = [0.0] * len(samples), [0.0] * len(samples), [0.0] * len(samples)
    tail = (1 - level) / 2
    for size, rows in by_size.items():
        stacked = np.stack([samples[i] for i in rows])  # a copy: sorted in place
        row_means = stacked.mean(axis=1).tolist()
        stacked.sort(axis=1)
        low, high = round(tail * (size - 1)), round((1 - tail) * (size - 1))
        for i, mean, lo, hi in zip(
            rows, row_means, stacked[:, low].tolist(), stacked[:, high].tolist(), strict=True
        ):
            means[i], lows[i], highs[i] = mean, lo, hi
    return means, lows, highs
