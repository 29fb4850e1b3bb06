"""Values without a sample size, judged by their own variation across iterations.

A metric with no sample size (Iter8 v2's mock gauge `2x·Beta(t, t)`, a business metric read from
a REST backend) says nothing about its own precision. The model: each iteration's value is
x_i = μ + ε_i, the ε_i independent with mean 0 and an unknown spread. The evidence about μ is the
one-sample t-test made anytime-valid: the scale-invariant Bayes factor with the right-Haar prior
1/σ on the scale and N(0, g) on the standardised effect δ = (μ − m)/σ,

    BF_k(m) = (1 + k·g)^(−1/2) · (1 − g·(Σy)² / ((1 + k·g)·Σy²))^(−k/2),   y_i = x_i − m,

a test martingale under μ = m for the scale-invariant filtration (Lai 1976; Pérez-Ortiz, Lardy,
de Heide and Grünwald 2022), so {m : BF_k(m) < 1/α} is a confidence sequence: valid at every k
at once, however often it is looked at. It is an interval centred on the mean of the values, so
"μ > m" is proven at level α when m is below it, and only then.
Why this one: an empirical-Bernstein sequence needs known bounds on the values (a business
metric has none), and a normal mixture with a plug-in variance is valid only asymptotically,
while here k is 2 to 20. One value gives BF = 1 exactly: no evidence, as it should be. g = 4
(effects of about two per-iteration standard deviations) keeps the interval at 7.2, 5.4, 4.0
and 3.6 standard errors after 4, 5, 10 and 20 values; g = 1 needs 5 values to exclude anything.

The posterior for traffic and P(holds) is the matching Bayesian one (same prior on σ, flat on μ):
a Student t with k − 1 degrees of freedom around the mean, scale s/√k. With fewer than two values
there is no spread to go on and no posterior.
The summary kept between iterations is Welford's (count, mean, sum of squared deviations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

G = 4.0  # prior variance of the standardised effect
MINIMUM = 2  # values before there is any evidence


@dataclass(frozen=True)
class Series:
    """Count, mean and sum of squared deviations of the values seen so far."""

    count: int = 0
    mean: float = 0.0
    squares: float = 0.0

    def add(self, value: float) -> Series:
        count = self.count + 1
        delta = value - self.mean
        mean = self.mean + delta / count
        return Series(count, mean, self.squares + delta * (value - mean))

    @property
    def sd(self) -> float:
        """The values' standard deviation (unbiased); 0 with fewer than two values."""
        return math.sqrt(max(self.squares, 0.0) / (self.count - 1)) if self.count > 1 else 0.0

    def to_wire(self) -> list[float]:
        return [self.count, self.mean, self.squares]

    @classmethod
    def from_wire(cls, data: object) -> Series | None:
        try:
            count, mean, squares = (float(x) for x in data)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            return None
        if not (math.isfinite(mean) and math.isfinite(squares) and 0 <= count < 1e9):
            return None
        return cls(int(count), mean, max(squares, 0.0))


def log_bayes_factor(series: Series, m: float) -> float:
    """log BF_k(m): evidence that the values' level is not m (module docstring)."""
    k = series.count
    if k < MINIMUM:
        return 0.0
    offset = series.mean - m
    total = series.squares + k * offset * offset  # Σ (x_i − m)²
    if total <= 0.0:
        return 0.0  # every value exactly m
    share = G * (k * offset) ** 2 / ((1.0 + k * G) * total)  # g (Σy)² / ((1 + kg) Σy²) < 1
    if share >= 1.0:
        return math.inf
    return -0.5 * math.log1p(k * G) - 0.5 * k * math.log1p(-share)


def log_e_beyond(series: Series, m: float, above: bool) -> float:
    """log E that the level is above `m` (or below): the Bayes factor when the mean is on that
    side, else no evidence (the confidence sequence is centred on the mean)."""
    if (series.mean > m) if above else (series.mean < m):
        return log_bayes_factor(series, m)
    return 0.0


def radius(series: Series, alpha: float) -> float:
    """Half-width of the level-(1 − α) confidence sequence around the mean; inf without any."""
    k = series.count
    if k < MINIMUM:
        return math.inf
    spread = series.squares / k  # the values' biased variance
    c = (alpha * alpha / (1.0 + k * G)) ** (1.0 / k)
    b = (1.0 - c) * (1.0 + k * G) / (G * k)
    if b >= 1.0:
        return math.inf
    return math.sqrt(spread * b / (1.0 - b))


def draws(series: Series, rng: np.random.Generator, size: int) -> np.ndarray:
    """The posterior of the level: mean + s/√k · t_(k−1)."""
    scale = series.sd / math.sqrt(series.count)
    result = rng.standard_t(series.count - 1, size)
    result *= scale  # in place: the same numbers as mean + scale · t, without two temporaries
    result += series.mean
    return result


def compared(
    differences: Series | None, sign: float, alpha: float
) -> tuple[float, float, float, float]:
    """delta, radius, log E(better), log E(worse) from the per-iteration differences a − b,
    signed so that positive is preferred (no differences: no evidence either way)."""
    if differences is None or differences.count < MINIMUM:
        return 0.0 if differences is None else sign * differences.mean, math.inf, 0.0, 0.0
    oriented = Series(differences.count, sign * differences.mean, differences.squares)
    return (
        oriented.mean,
        radius(oriented, alpha),
        log_e_beyond(oriented, 0.0, above=True),
        log_e_beyond(oriented, 0.0, above=False),
    )
