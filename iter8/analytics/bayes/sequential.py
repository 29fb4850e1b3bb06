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

Using the horizon. A mixture is tightest where its scale matches the effect that the available
sample can just detect; one tuned for a few hundred requests wastes power at the tens of
thousands an experiment reaches by its last iteration (and the reverse). Experiments have a
horizon (`maxIterations`), so each test is an equal-weight mixture of two e-processes: the
*wide* one above (quick on large effects, anytime-valid forever) and one *tuned to the horizon*,
a half-normal mixture of effect scale ρ·sd with ρ² = (2 ln(1/α) + ln(1 + 2 ln(1/α))) / N*, N*
the requests a version is expected to have at the last iteration (the scale that minimises the
mixture's boundary at N*; Howard et al. 2021, GrowthBook's N*). A mean of e-processes is an
e-process, so Ville's inequality still holds at every look; the halving costs ln 2 of evidence.
N* is fixed from the traffic level once (carried in the state), never from outcomes.

Still, every mixture needs |z| ≈ 2.8 at α = 0.05 where a single fixed test needs 1.645, so at
the horizon it has ~1.6× less information than a fixed design would. Reward comparisons (the
tests that run out of data: a 10% lift needs ~12,000 requests per version) therefore also get a
group-sequential boundary that spends most of α at the last look (`horizon_z`): the score
S = Δ̂·I (I = 1/Var Δ̂, the Fisher information) is, under H0 and any predictable allocation, a
Brownian motion in information time (Dambis–Dubins–Schwarz), so by the reflection principle
P(sup_{I ≤ I_max} S ≥ c·√I_max) = 2(1 − Φ(c)): the constant boundary c = z_{α/2} on S, i.e.
z ≥ c·√(I_max/I) at each look, errs at most α however often (and when) we look, and needs only
z ≥ 1.96 at I_max (an O'Brien–Fleming-type boundary with continuous monitoring). I_max is the
information an equal split would have at the horizon (`n_star` requests per version), an upper
bound for the bandit's; past it (traffic grew) the boundary stays at c, a stated approximation.
A comparison is proven when either test is: the mixture at 0.45α (fast on large effects) or
the boundary at 0.55α (power at the horizon; z ≥ 2.2 at the last look); a union bound keeps the
sum at α. The boundary had 3α/4 while Thompson sampling split A/B traffic unequally; with the
equal split (`Settings.vote_power` 0) it reaches its horizon information and 0.55α keeps the
bench's power (ab-slightly-better 87%) with false promotions at 1.1% in a null A/B (2.3%). Without a horizon
(N* None) only the wide mixture is used, at α, anytime-valid.

Futility (non-binding, with a horizon only): a test that cannot reach its boundary by the
horizon stops early. The design alternative is the drift θ₁ = c + z_(power) of S/√I_max, the
effect the horizon boundary proves with `POWER` (80%) at I_max. Under it, S − θ₁·I/I_max is a
Brownian motion in information time, so by the same reflection principle the boundary
"S < θ₁·t − k·√I_max" (t = I/I_max ≤ 1, k = z_(β/2)) is crossed with probability at most
β = `FUTILITY_BETA` (5%) however often we look: a version at the design effect (or better) is
wrongly given up in at most 5% of experiments. It is non-binding: the promotion boundary and
its α are unchanged (ignoring futility never inflates α; obeying it only lowers it). Without a
horizon there is no futility: the tests stay anytime-valid and open-ended.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from iter8.analytics.bayes.special import betaincc, betaln, log_ndtr, ndtri

Side = Literal["below", "above"]
LOG2 = math.log(2.0)


_GRID = (np.arange(64) + 0.5) / 64
_HALF_NORMAL = ndtri(0.5 + 0.5 * (np.arange(32) + 0.5) / 32)  # equal-mass points of |N(0, 1)|
_LOG_WEIGHTS = np.log(_GRID**2 * (1 - _GRID) ** 2 / (_GRID**2 * (1 - _GRID) ** 2).sum())
_LOG_GRID = np.log(_GRID)


def horizon_scale(alpha: float, n_star: float | None) -> float | None:
    """ρ, the effect (in per-request standard deviations) the horizon-tuned mixture centres on."""
    if n_star is None or n_star <= 0:
        return None
    log_level = 2.0 * math.log(1.0 / alpha)
    return math.sqrt((log_level + math.log1p(log_level)) / n_star)


MIXTURE_SHARE = 0.45  # of α spent by the mixture when the horizon boundary is also used


def horizon_z(level: float, fraction: float) -> float:
    """The z a look at information fraction I/I_max must reach (module docstring)."""
    c = float(ndtri(1.0 - level / 2.0))
    return c / math.sqrt(min(max(fraction, 1e-12), 1.0))


POWER = 0.8  # of the horizon boundary at the design alternative
FUTILITY_BETA = 0.05  # at most this share of versions at the design effect stop for futility


def futile(z: float, fraction: float | None, level: float) -> bool:
    """Whether a test at information `fraction` of the horizon's, now at `z`, has crossed the
    futility boundary of the boundary at `level` (module docstring); never past the horizon's
    information, nor without one."""
    if fraction is None or not 0.0 < fraction <= 1.0 or not math.isfinite(z):
        return False
    theta = horizon_z(level, 1.0) + float(ndtri(POWER))
    k = float(ndtri(1.0 - FUTILITY_BETA / 2.0))
    return z * math.sqrt(fraction) < theta * fraction - k


def _mean_of(*log_es: float) -> float:
    """log of the equal-weight mean of e-values (itself an e-value)."""
    top = max(log_es)
    if not math.isfinite(top):
        return top
    return top + math.log(sum(math.exp(x - top) for x in log_es) / len(log_es))


def _log_mean_exp(terms: np.ndarray) -> float:
    top = float(terms.max())
    return top + math.log(float(np.exp(terms - top).sum()) / terms.size)  # = .mean(), cheaper


def log_e_rate(
    events: float, n: float, limit: float, side: Side, rho: float | None = None
) -> float:
    """log E against "the rate is on the other side of `limit`": evidence it is `side` of it;
    with `rho`, the mean of the wide mixture and the one tuned to the horizon (module doc)."""
    wide = _log_e_rate_wide(events, n, limit, side)
    if rho is None or n <= 0 or not 0.0 < limit < 1.0 or not math.isfinite(wide):
        return wide
    step = rho * math.sqrt(limit * (1.0 - limit)) * _HALF_NORMAL
    q = np.clip(limit - step if side == "below" else limit + step, 1e-12, 1 - 1e-12)
    terms = events * (np.log(q) - math.log(limit))
    terms += (n - events) * (np.log1p(-q) - math.log1p(-limit))
    tuned = _log_mean_exp(terms)
    return _mean_of(wide, tuned)


def _log_e_rate_wide(events: float, n: float, limit: float, side: Side) -> float:
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


def log_e_normal(
    delta: float, variance: float, tau: float, tuned_tau: float | None = None
) -> float:
    """log E against "the mean of the estimate is ≤ 0", given estimate `delta` of `variance`;
    with `tuned_tau` (the horizon's scale), the mean of the two mixtures."""
    wide = _log_e_normal(delta, variance, tau)
    if tuned_tau is None or tuned_tau <= 0.0 or not math.isfinite(wide):
        return wide
    return _mean_of(wide, _log_e_normal(delta, variance, tuned_tau))


def _log_e_normal(delta: float, variance: float, tau: float) -> float:
    if variance <= 0.0:
        return math.inf if delta > 0 else -math.inf
    if tau <= 0.0:
        return 0.0
    total = variance + tau * tau
    exponent = delta * delta * tau * tau / (2.0 * variance * total)
    tail = float(log_ndtr(delta * tau / math.sqrt(variance * total)))
    return LOG2 + 0.5 * (math.log(variance) - math.log(total)) + exponent + tail  # no underflow


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
