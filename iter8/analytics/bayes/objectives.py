"""Does a version meet an objective? The posterior probability, and anytime-valid evidence.

Evidence per kind of number, tested at α each way:
* rate vs limit: the exact Bernoulli mixture (`sequential.log_e_rate`);
* percentile q vs limit U: "p_q ≤ U" is "the share of requests above U is ≤ 1 − q", a rate, so
  it is tested exactly on the histogram's counts. A bucket that straddles U counts as above U
  when proving the objective holds and as below when proving it fails: both conservative;
* mean: the one-sided normal mixture with the per-request sd of the belief;
* value (no sample size): the confidence sequence over the per-iteration values
  (`bayes.iterations`); one value is no evidence;
* exact: known.
With both limits, "holds" needs both sides proven (an intersection-union test, still level α)
and "fails" needs either side at α/2.
With a horizon, a limit of a rate, percentile or mean is also proven met by the horizon
boundary on its z (the mixtures at half of α, the boundary at the other half;
I_max the requests a version can have by the horizon: all the traffic, or for a candidate
of a Progressive experiment the most Iter8's weight caps let it have from the split in force
at the first step, `allocation.most_requests`, a bound fixed before any data), and an objective that
can no longer reach it is futile (`sequential.futile`): the version is given up, not rolled
back as harmful (`decide`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from iter8.analytics.bayes import evidence, iterations
from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.draws import share
from iter8.analytics.bayes.sequential import (
    futile,
    horizon_scale,
    horizon_z,
    log_e_normal,
    log_e_rate,
)

Verdict = Literal["holds", "fails", "undecided", "unknown"]
# of α spent by the mixtures on "holds" when the horizon boundary is also used: half, since
# objectives of healthy versions are mostly proven early by the mixtures (a quarter, as for
# rewards, slowed an identical canary from 6 to 7 iterations in the bench)
OBJECTIVE_MIXTURE_SHARE = 0.5


@dataclass(frozen=True)
class Limits:
    key: str  # the metric, `ns/name`
    lower: float | None
    upper: float | None
    rollback: bool  # rollback_on_failure, as defaulted
    relative: bool = False  # limits are ratios to the baseline's value (`bayes.relative`)

    def describe(self) -> str:
        unit = " × baseline" if self.relative else ""
        text = self.key if self.upper is None else f"{self.key} ≤ {self.upper:g}{unit}"
        return text if self.lower is None else f"{self.lower:g}{unit} ≤ {text}"


@dataclass(frozen=True)
class Check:
    limits: Limits
    probability: float | None  # posterior P(the objective holds); None: no data ever
    log_e_holds: float
    log_e_fails: float
    verdict: Verdict
    n: float
    expected_events: float = 0.0  # bad events n × limit rate would give (rates, percentiles)
    futile: bool = False  # cannot be proven to hold by the horizon (`sequential.futile`)
    z_holds: float | None = None  # the least z of "it holds" over the limits (futility's)
    stalled: bool = False  # futile at the traffic a likely-failing version keeps (`stalled`)
    by_values: bool = False  # judged by a value without a sample size: `n` counts iterations


def holds_mask(draws: np.ndarray, limits: Limits) -> np.ndarray:
    """1 where a posterior draw meets the objective, else 0."""
    return _holds(draws, limits).astype(float)


def holds_share(draws: np.ndarray, limits: Limits) -> float:
    """The share of posterior draws that meet the objective: the mean of `holds_mask`, without
    its float array."""
    return share(_holds(draws, limits))


def _holds(draws: np.ndarray, limits: Limits) -> np.ndarray:
    lower, upper = limits.lower, limits.upper
    if lower is not None and upper is not None:
        return (draws >= lower) & (draws <= upper)
    if lower is not None:
        return draws >= lower
    if upper is not None:
        return draws <= upper
    return np.ones(draws.shape, dtype=bool)


def soft_mask(draws: np.ndarray, limits: Limits, sharpness: float) -> np.ndarray:
    """A logistic version of `holds_mask`: σ(a × relative margin), per limit, multiplied."""
    result = np.ones(draws.shape)
    for limit, sign in ((limits.upper, 1.0), (limits.lower, -1.0)):
        if limit is None:
            continue
        margin = sign * (limit - draws) / (abs(limit) or 1.0)
        result *= 1.0 / (1.0 + np.exp(-sharpness * margin))
    return result


def check(
    belief: Belief | None,
    draws: np.ndarray | None,
    limits: Limits,
    alpha: float,
    tau: float,
    min_samples: float,
    n_star: float | None = None,
    n_max: float | None = None,
    min_values: int = 1,
) -> Check:
    """The objective's probability and verdict for one version (`n_star`: the requests per
    version expected at the horizon, which tunes one of the mixtures; `n_max`: the most a
    version can have by then, all the traffic, the horizon boundary's I_max; `sequential`;
    `min_values`: the values a value without a sample size needs before it is proven to hold)."""
    rho = horizon_scale(alpha, n_star)
    if belief is None or draws is None:
        return Check(limits, None, 0.0, 0.0, "unknown", 0.0)
    probability = holds_share(draws, limits)
    sides = [(v, s) for v, s in ((limits.upper, "upper"), (limits.lower, "lower")) if v is not None]
    holds = [_log_e(belief, limit, side, True, tau, rho) for limit, side in sides]
    fails = [_log_e(belief, limit, side, False, tau, rho) for limit, side in sides]
    log_e_holds = min(holds) if holds else math.inf
    log_e_fails = max(fails) - math.log(len(fails)) if fails else -math.inf
    if belief.kind == "value":  # the sample is the iterations; futility only by `stalled`
        k = float(belief.series.count) if belief.series else 0.0
        verdict: Verdict = "undecided"
        if evidence.proof(log_e_fails, k, alpha):
            verdict = "fails"
        elif k >= min_values and evidence.proof(log_e_holds, k, alpha):
            verdict = "holds"
        least = _value_z(belief, sides) if k >= min_values else None
        return Check(
            limits, probability, log_e_holds, log_e_fails, verdict, k, z_holds=least, by_values=True
        )
    enough = belief.kind == "exact" or (belief.n > 0 and belief.n >= min_samples)
    zs = [_z_holds(belief, limit, side) for limit, side in sides]
    fraction = belief.n / n_max if n_max else None
    verdict = "undecided"
    if enough and log_e_fails >= math.log(1 / alpha):
        verdict = "fails"
    elif enough and all(
        _side_proven(e, z, fraction, alpha) for e, z in zip(holds, zs, strict=True)
    ):
        verdict = "holds"
    events = belief.n * _limit_rate(belief, limits)
    level = (1 - OBJECTIVE_MIXTURE_SHARE) * alpha
    hopeless = (
        verdict == "undecided"
        and enough
        and any(z is not None and futile(z, fraction, level) for z in zs)
    )
    known = [z for z in zs if z is not None]
    least = min(known) if known else None
    return Check(
        limits, probability, log_e_holds, log_e_fails, verdict, belief.n, events, hopeless, least
    )


def _value_z(belief: Belief, sides: Sequence[tuple[float, str]]) -> float | None:
    """The least t of "it holds" of a value without a sample size, over its limits."""
    series = belief.series
    if series is None or not series.scale > 0:
        return None
    margins = [(v - series.mean) if side == "upper" else (series.mean - v) for v, side in sides]
    return min(margins) / series.scale if margins else None


def stalled(c: Check, planned: float, alpha: float, have: float | None = None) -> bool:
    """Whether the objective cannot be proven to hold by the horizon at `planned` requests,
    those the version will have if it keeps the share it has now: the futility boundary of
    `sequential.futile` with `planned` in place of I_max (lenient: the proof needs more, since
    its boundary is set at I_max ≥ planned). Used for a likely-failing candidate
    (`allocation.likely_failing`): its Thompson share is P(feasible), small, so it gets too
    little traffic for the β-spending futility at I_max (all it could get) ever to fire, and
    it stayed to the horizon (a 1.2%-error canary ran all 20 iterations, serving ~15% of the
    traffic). Non-binding, as futility: it never promotes and proves no harm (the outcome is
    `no-winner`, the baseline kept), so α is untouched; the β guarantee does not carry over
    (the share depends on the data), so its cost, compliant candidates given up, is measured
    (bench canary-heavy-tail-under). `have`: the information so far, in the units of `planned`
    (the requests `c.n`; for a value without a sample size, its series' weight)."""
    have = c.n if have is None else have
    if c.verdict != "undecided" or c.z_holds is None or not planned > have > 0:
        return False
    return futile(c.z_holds, have / planned, (1 - OBJECTIVE_MIXTURE_SHARE) * alpha)


def _side_proven(log_e: float, z: float | None, fraction: float | None, alpha: float) -> bool:
    """One limit proven met: the mixture at α, or with a horizon the mixture at a share of α
    or the horizon boundary at the rest (as for rewards; `sequential` module docstring),
    the boundary only up to the horizon's information."""
    if fraction is None:
        return log_e >= math.log(1 / alpha)
    if log_e >= math.log(1 / (OBJECTIVE_MIXTURE_SHARE * alpha)):
        return True
    if z is None or not 0.0 < fraction <= 1.0:
        return False
    return z >= horizon_z((1 - OBJECTIVE_MIXTURE_SHARE) * alpha, fraction)


def _z_holds(belief: Belief, limit: float, side: str) -> float | None:
    """The z of "the objective holds on this side" (positive: on the good side), for the
    futility rule; None where there is no normal approximation (exact values, values)."""
    n = float(belief.counts.sum()) if belief.kind == "percentile" else belief.n
    if n <= 0:
        return None
    if belief.kind == "rate":
        rate, allowed = belief.events / n, limit
        margin = (allowed - rate) if side == "upper" else (rate - allowed)
    elif belief.kind == "percentile":  # the share beyond the limit, as `_percentile_log_e`
        counts, q = belief.counts, belief.quantile
        if side == "upper":
            rate, allowed = float(counts[belief.uppers > limit].sum()) / n, 1.0 - q
        else:
            rate, allowed = float(counts[belief.lowers < limit].sum()) / n, q
        margin = allowed - rate
    elif belief.kind == "mean":
        margin = (limit - belief.value) if side == "upper" else (belief.value - limit)
        return margin / belief.unit_sd * math.sqrt(belief.n) if belief.unit_sd > 0 else None
    else:
        return None
    if not 0.0 < allowed < 1.0:
        return None
    return margin / math.sqrt(allowed * (1.0 - allowed) / n)


def _limit_rate(belief: Belief, limits: Limits) -> float:
    """The bad-event rate the limit allows: the limit itself for a rate, 1 − q (or q) for a
    percentile, and 1 for other kinds (every request informs a mean)."""
    if belief.kind == "rate":
        rates = [min(v, 1 - v) for v in (limits.upper, limits.lower) if v is not None and 0 < v < 1]
        return min(rates) if rates else 1.0
    if belief.kind == "percentile":
        return min(belief.quantile, 1 - belief.quantile)
    return 1.0


def _log_e(
    belief: Belief, limit: float, side: str, proving_holds: bool, tau: float, rho: float | None
) -> float:
    """log E that the metric is within (`proving_holds`) or beyond this one limit."""
    if belief.kind == "exact":
        within = belief.value <= limit if side == "upper" else belief.value >= limit
        return math.inf if within == proving_holds else -math.inf
    if belief.kind == "rate":
        wanted_below = (side == "upper") == proving_holds
        side_of = "below" if wanted_below else "above"
        return log_e_rate(belief.events, belief.n, limit, side_of, rho)
    if belief.kind == "percentile":
        return _percentile_log_e(belief, limit, side, proving_holds, rho)
    if belief.kind == "value":
        above = (side == "lower") == proving_holds
        return iterations.log_e_beyond(belief.series, limit, above) if belief.series else 0.0
    margin = (limit - belief.value) if side == "upper" else (belief.value - limit)
    variance = belief.unit_sd**2 / belief.n
    tuned = None if rho is None else rho * belief.unit_sd
    return log_e_normal(margin if proving_holds else -margin, variance, tau * belief.unit_sd, tuned)


def _percentile_log_e(
    belief: Belief, limit: float, side: str, proving_holds: bool, rho: float | None
) -> float:
    """The percentile objective as a rate of requests beyond the limit (module docstring)."""
    counts, lowers, uppers, q = belief.counts, belief.lowers, belief.uppers, belief.quantile
    n = float(counts.sum())
    if side == "upper":  # p_q ≤ U  ⇔  share above U ≤ 1 − q
        beyond = counts[uppers > limit] if proving_holds else counts[lowers >= limit]
        share = 1.0 - q
    else:  # p_q ≥ L  ⇔  share below L ≤ q
        beyond = counts[lowers < limit] if proving_holds else counts[uppers <= limit]
        share = q
    events = float(beyond.sum())
    return log_e_rate(events, n, share, "below" if proving_holds else "above", rho)
