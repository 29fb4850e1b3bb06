"""Is one version better than another on a reward? Posterior odds, and anytime-valid evidence.

The difference of two estimates is tested with the one-sided normal mixture
(`sequential.log_e_normal`, Johari et al.'s mSPRT), τ = `tau` × the pooled per-request sd, so
the same setting means the same thing for conversion rates and for latencies. Variances: rate
p̃(1 − p̃)/n with p̃ = (events + ½)/(n + 1) (never zero); mean s²/n; percentile the variance of
its Dirichlet draws. A reward without a sample size (kind `value`) is tested on the paired
per-iteration differences of the two versions (`bayes.iterations`); without them (fewer than two
iterations where both answered) there is no test, and no proof.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from iter8.analytics.bayes import iterations
from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.sequential import (
    MIXTURE_SHARE,
    confidence_radius,
    futile,
    horizon_scale,
    horizon_z,
    log_e_normal,
)


@dataclass(frozen=True)
class Estimate:
    value: float
    variance: float  # of the estimate
    unit_sd: float  # per request
    testable: bool


def estimate(belief: Belief, draws: np.ndarray) -> Estimate:
    if belief.kind == "rate":
        smoothed = (belief.events + 0.5) / (belief.n + 1.0)
        spread = smoothed * (1.0 - smoothed)
        return Estimate(belief.value, spread / belief.n, math.sqrt(spread), True)
    if belief.kind == "mean":
        return Estimate(belief.value, belief.unit_sd**2 / belief.n, belief.unit_sd, True)
    if belief.kind == "percentile":
        return Estimate(belief.value, float(draws.var()), belief.unit_sd, True)
    if belief.kind == "exact":
        return Estimate(belief.value, 0.0, 0.0, True)
    return Estimate(belief.value, belief.scale**2, belief.scale, False)


@dataclass(frozen=True)
class Comparison:
    """`better` against `other`, signed so that positive means `better` is preferred."""

    better: str
    other: str
    delta: float  # the preferred-direction difference of the estimates
    radius: float  # half-width of the anytime-valid confidence sequence on delta (level α)
    log_e: float  # evidence that delta > 0
    log_e_worse: float  # evidence that delta < 0
    probability: float  # posterior P(delta > 0)
    gain_probability: float  # posterior P(delta ≥ the minimum effect), reported
    variance: float  # of delta
    scales: tuple[float, float | None]  # the mixtures' scales: wide, tuned to the horizon
    testable: bool
    fraction: float | None = None  # information now / at the horizon; None: no horizon
    per_iteration: bool = False  # tested on per-iteration values (`iterations`), not requests

    def proven(self, level: float) -> bool:
        return self.testable and self._shown(self.delta, self.log_e, level)  # no test, no proof

    def disproven(self, level: float) -> bool:
        return self.testable and self._shown(-self.delta, self.log_e_worse, level)

    def not_worse(self, margin: float, level: float) -> bool:
        """Proven that `better` is no worse than `other` by more than `margin` (a
        non-inferiority test: delta + margin > 0, the same tests)."""
        if not self.testable:
            return False  # no test, no proof
        if self.per_iteration:
            return self.proven(level)  # no non-inferiority test there: better is required
        shifted = self.delta + margin
        return self._shown(shifted, log_e_normal(shifted, self.variance, *self.scales), level)

    def worse_beyond(self, margin: float, level: float) -> bool:
        """Proven that `better` is worse than `other` by more than `margin` (delta + margin < 0,
        the complement of `not_worse`'s claim, the same tests); on per-iteration values, where
        there is no non-inferiority test, proven worse at all (`disproven`)."""
        if not self.testable:
            return False  # no test, no proof
        if self.per_iteration:
            return self.disproven(level)
        shifted = -(self.delta + margin)
        return self._shown(shifted, log_e_normal(shifted, self.variance, *self.scales), level)

    def futile(self, level: float) -> bool:
        """Whether `better` can no longer be proven better at `level` by the horizon: the
        futility boundary of the horizon boundary (`sequential.futile`); never without a
        horizon, nor on per-iteration values."""
        if not self.testable or self.per_iteration or self.variance <= 0:
            return False
        z = self.delta / math.sqrt(self.variance)
        return futile(z, self.fraction, (1 - MIXTURE_SHARE) * level)

    def _shown(self, delta: float, log_e: float, level: float) -> bool:
        """The mixture's e-value, or with a horizon, either it at a share of `level` or the
        horizon boundary at the rest (`sequential` module docstring)."""
        if self.fraction is None or self.per_iteration:
            return log_e >= math.log(1 / level)
        if log_e >= math.log(1 / (MIXTURE_SHARE * level)):
            return True
        if self.variance <= 0:
            return delta > 0
        z = delta / math.sqrt(self.variance)
        return z >= horizon_z((1 - MIXTURE_SHARE) * level, self.fraction)


def compare(
    pairs: Sequence[tuple[str, str]],
    beliefs: Mapping[str, Belief],
    draws: Mapping[str, np.ndarray],
    higher_is_better: bool,
    tau: float,
    alpha: float,
    minimum_effect: float,
    n_star: float | None = None,
) -> dict[tuple[str, str], Comparison]:
    """Compare version `a` with `b` on one reward, for each pair (a, b) whose versions both have
    draws (`n_star`: the requests per version expected at the horizon, `sequential`). The
    posterior probabilities of every pair come from one array of differences."""
    pairs = [(a, b) for a, b in pairs if a in draws and b in draws]
    if not pairs:
        return {}
    order = list(dict.fromkeys(v for pair in pairs for v in pair))
    row = {v: i for i, v in enumerate(order)}
    stacked = np.stack([draws[v] for v in order])
    first, second = [row[a] for a, _ in pairs], [row[b] for _, b in pairs]
    # signed so that positive is preferred: b − a is exactly −(a − b)
    difference = (
        stacked[first] - stacked[second] if higher_is_better else stacked[second] - stacked[first]
    )
    estimates = {v: estimate(beliefs[v], draws[v]) for v in order}
    effects = np.array([minimum_effect * abs(estimates[b].value) for _, b in pairs])
    size = stacked.shape[1]
    better = np.count_nonzero(difference > 0, axis=1) / size
    gains = np.count_nonzero(difference >= effects[:, None], axis=1) / size
    return {
        (a, b): _compared(
            (a, b),
            (beliefs[a], beliefs[b]),
            (estimates[a], estimates[b]),
            higher_is_better,
            tau,
            alpha,
            n_star,
            (float(p), float(g)),
        )
        for (a, b), p, g in zip(pairs, better, gains, strict=True)
    }


def _compared(
    names: tuple[str, str],
    beliefs: tuple[Belief, Belief],
    estimates: tuple[Estimate, Estimate],
    higher_is_better: bool,
    tau: float,
    alpha: float,
    n_star: float | None,
    probabilities: tuple[float, float],
) -> Comparison:
    """One pair's comparison, its posterior P(better) and P(gain) given."""
    sign = 1.0 if higher_is_better else -1.0
    first, second = estimates
    probability, gain_probability = probabilities
    delta = sign * (first.value - second.value)
    variance = first.variance + second.variance
    pooled = math.sqrt((first.unit_sd**2 + second.unit_sd**2) / 2)
    rho = horizon_scale(alpha, n_star)
    scale, tuned = tau * pooled, None if rho is None else rho * pooled
    at_horizon = (first.unit_sd**2 + second.unit_sd**2) / n_star if n_star else None
    if "value" in (beliefs[0].kind, beliefs[1].kind):
        paired = beliefs[0].pairs.get(names[1]) if beliefs[0].kind == beliefs[1].kind else None
        delta, radius, log_e, log_e_worse = iterations.compared(paired, sign, alpha)
        return Comparison(
            better=names[0],
            other=names[1],
            delta=delta,
            radius=radius,
            log_e=log_e,
            log_e_worse=log_e_worse,
            probability=probability,
            gain_probability=gain_probability,
            variance=0.0,
            scales=(0.0, None),
            testable=paired is not None and paired.count >= iterations.MINIMUM,
            per_iteration=True,
        )
    return Comparison(
        better=names[0],
        other=names[1],
        delta=delta,
        radius=confidence_radius(variance, scale, alpha),
        variance=variance,
        scales=(scale, tuned),
        log_e=log_e_normal(delta, variance, scale, tuned),
        log_e_worse=log_e_normal(-delta, variance, scale, tuned),
        probability=probability,
        gain_probability=gain_probability,
        testable=first.testable and second.testable,
        fraction=None if at_horizon is None or variance <= 0 else at_horizon / variance,
    )
