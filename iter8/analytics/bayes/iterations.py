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

Values may carry weights w_i, each known before its value arrives: x_i = μ + ε_i of variance
σ²/w_i (what one iteration added to a value since the start, w_i the version's share of that
iteration's traffic: `bayes.cumulative`). The same construction gives

    BF_k(m) = (1 + W·g)^(−1/2) · (1 − g·(Σw·y)² / ((1 + W·g)·Σw·y²))^(−k/2),   W = Σw,

still a test martingale, the weights being fixed before their values; every w = 1 is the test
above, and σ is then the spread of a value of weight 1.

The posterior for traffic and P(holds) is the matching Bayesian one (same prior on σ, flat on μ):
a Student t with k − 1 degrees of freedom around the (weighted) mean, scale s/√W (s/√k
unweighted). With fewer than two values there is no spread to go on and no posterior.
The summary kept between iterations is West's weighted Welford (count, mean, sum of weighted
squared deviations, total weight).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

G = 4.0  # prior variance of the standardised effect
MINIMUM = 2  # values before there is any evidence


@dataclass(frozen=True)
class Series:
    """Count, weighted mean and weighted sum of squared deviations of the values seen so far,
    and their total weight (the count, when every value weighs 1)."""

    count: int = 0
    mean: float = 0.0
    squares: float = 0.0
    weight: float = 0.0

    def add(self, value: float, weight: float = 1.0) -> Series:
        """West's weighted Welford step: a value of weight w has variance σ²/w."""
        total = self.weight + weight
        delta = value - self.mean
        mean = self.mean + delta * weight / total
        return Series(self.count + 1, mean, self.squares + weight * delta * (value - mean), total)

    def negated(self) -> Series:
        return Series(self.count, -self.mean, self.squares, self.weight)

    @property
    def sd(self) -> float:
        """The spread of a value of weight 1 (unbiased); 0 with fewer than two values."""
        return math.sqrt(max(self.squares, 0.0) / (self.count - 1)) if self.count > 1 else 0.0

    @property
    def scale(self) -> float:
        """The standard error of the mean: s/√W (s/√k when every value weighs 1)."""
        return self.sd / math.sqrt(self.weight) if self.weight > 0 else 0.0

    def to_wire(self) -> list[float]:
        return [self.count, self.mean, self.squares, self.weight]

    @classmethod
    def from_wire(cls, data: object) -> Series | None:
        try:
            numbers = [float(x) for x in data]  # type: ignore[union-attr]
        except (TypeError, ValueError):
            return None
        if len(numbers) == 3:  # written before values had weights: each weighed 1
            numbers.append(numbers[0])
        if len(numbers) != 4:
            return None
        count, mean, squares, weight = numbers
        valid = math.isfinite(mean) and math.isfinite(squares) and math.isfinite(weight)
        if not (valid and 0 <= count < 1e9 and (weight > 0 or count == 0)):
            return None
        return cls(int(count), mean, max(squares, 0.0), weight)


def log_bayes_factor(series: Series, m: float) -> float:
    """log BF_k(m): evidence that the values' level is not m (module docstring)."""
    k, w = series.count, series.weight
    if k < MINIMUM:
        return 0.0
    offset = series.mean - m
    total = series.squares + w * offset * offset  # Σ w_i (x_i − m)²
    if total <= 0.0:
        return 0.0  # every value exactly m
    share = G * (w * offset) ** 2 / ((1.0 + w * G) * total)  # g (Σwy)² / ((1 + Wg) Σwy²) < 1
    if share >= 1.0:
        return math.inf
    return -0.5 * math.log1p(w * G) - 0.5 * k * math.log1p(-share)


def log_e_beyond(series: Series, m: float, above: bool) -> float:
    """log E that the level is above `m` (or below): the Bayes factor when the mean is on that
    side, else no evidence (the confidence sequence is centred on the mean)."""
    if (series.mean > m) if above else (series.mean < m):
        return log_bayes_factor(series, m)
    return 0.0


def radius(series: Series, alpha: float) -> float:
    """Half-width of the level-(1 − α) confidence sequence around the mean; inf without any."""
    k, w = series.count, series.weight
    if k < MINIMUM or w <= 0:
        return math.inf
    spread = series.squares / w  # the values' biased variance, per unit of weight
    c = (alpha * alpha / (1.0 + w * G)) ** (1.0 / k)
    b = (1.0 - c) * (1.0 + w * G) / (G * w)
    if b >= 1.0:
        return math.inf
    return math.sqrt(spread * b / (1.0 - b))


def draws(series: Series, rng: np.random.Generator, size: int) -> np.ndarray:
    """The posterior of the level: mean + s/√W · t_(k−1)."""
    result = rng.standard_t(series.count - 1, size)
    result *= (
        series.scale
    )  # in place: the same numbers as mean + scale · t, without two temporaries
    result += series.mean
    return result


def compared(
    differences: Series | None, sign: float, alpha: float
) -> tuple[float, float, float, float]:
    """delta, radius, log E(better), log E(worse) from the per-iteration differences a − b,
    signed so that positive is preferred (no differences: no evidence either way)."""
    if differences is None or differences.count < MINIMUM:
        return 0.0 if differences is None else sign * differences.mean, math.inf, 0.0, 0.0
    oriented = differences if sign > 0 else differences.negated()
    return (
        oriented.mean,
        radius(oriented, alpha),
        log_e_beyond(oriented, 0.0, above=True),
        log_e_beyond(oriented, 0.0, above=False),
    )
