"""Anytime-valid tests: e-processes a decision may look at every iteration without inflating error.

Each function returns log E, the log of a nonnegative supermartingale under its null; by Ville's
inequality P(sup_t E_t ≥ 1/α) ≤ α, so stopping the first time log E ≥ log(1/α) errs at most α
however often we look (peers.md §6.2c: P(best) ≥ 0.99 with peeking errs ~23%).

* Rate vs a limit L (exact, Bernoulli): a mixture of likelihood ratios q vs L over q on one
  side of L. Each ratio with q < L is a supermartingale under every p ≥ L (and symmetrically),
  so any mixture tests the composite null. Below L (proving an objective holds) the mixture is
  q = u·L with u ~ Beta(3, 3) on a 64-point grid: healthy versions sit at a fraction of their
  limit, and this proves 0.5% < 1% after ~2,300 requests where a flat mixture needs ~2,700.
  Above L: a Beta prior of mean L and standard deviation ≈ L truncated to q > L (closed form by
  conjugacy), so rates a little over the limit get weight.
* A normal estimate vs 0 (means, differences of rates or means, Johari et al.'s mSPRT made
  one-sided): a half-normal mixture N(0, τ²) over positive effects of the Gaussian likelihood
  ratio in information time. Valid asymptotically (plug-in variances), also under adaptive
  allocation, since the allocation depends only on the past.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy.special import betaincc, betaln, log_ndtr

Side = Literal["below", "above"]
LOG2 = math.log(2.0)


_GRID = (np.arange(64) + 0.5) / 64
_LOG_WEIGHTS = np.log(_GRID**2 * (1 - _GRID) ** 2 / (_GRID**2 * (1 - _GRID) ** 2).sum())
_LOG_GRID = np.log(_GRID)


def log_e_rate(events: float, n: float, limit: float, side: Side) -> float:
    """log E against "the rate is on the other side of `limit`": evidence it is `side` of it."""
    if n <= 0:
        return 0.0
    if limit <= 0.0 or limit >= 1.0:
        impossible = (side == "below" and limit <= 0.0) or (side == "above" and limit >= 1.0)
        if impossible:
            return -math.inf
        witnessed = events > 0 if side == "above" else events < n
        return math.inf if witnessed else 0.0
    if side == "below":
        q = limit * _GRID
        terms = events * _LOG_GRID + (n - events) * (np.log1p(-q) - math.log1p(-limit))
        terms += _LOG_WEIGHTS
        top = float(terms.max())
        return top + math.log(float(np.exp(terms - top).sum()))
    small = min(limit, 1.0 - limit)
    concentration = max(2.0, (1.0 - small) / small - 1.0)
    a, b = limit * concentration, (1.0 - limit) * concentration
    a_post, b_post = a + events, b + n - events
    posterior_side = float(betaincc(a_post, b_post, limit))
    prior_side = float(betaincc(a, b, limit))
    if posterior_side <= 0.0:
        return -math.inf
    marginal = float(betaln(a_post, b_post) - betaln(a, b))
    null = events * math.log(limit) + (n - events) * math.log1p(-limit)
    return marginal + math.log(posterior_side) - math.log(prior_side) - null


def log_e_normal(delta: float, variance: float, tau: float) -> float:
    """log E against "the mean of the estimate is ≤ 0", given estimate `delta` of `variance`."""
    if variance <= 0.0:
        return math.inf if delta > 0 else -math.inf
    if tau <= 0.0:
        return 0.0
    total = variance + tau * tau
    exponent = delta * delta * tau * tau / (2.0 * variance * total)
    tail = float(log_ndtr(delta * tau / math.sqrt(variance * total)))
    return LOG2 + 0.5 * math.log(variance / total) + exponent + tail


def confidence_radius(variance: float, tau: float, alpha: float) -> float:
    """Half-width of the two-sided normal-mixture confidence sequence at level 1 − alpha."""
    if variance <= 0.0:
        return 0.0
    if tau <= 0.0:
        return math.inf
    total = variance + tau * tau
    return math.sqrt(
        2.0
        * variance
        * total
        / (tau * tau)
        * (math.log(1 / alpha) + 0.5 * math.log(total / variance))
    )
