"""What one observation lets us believe about a version's metric: a posterior, by kind of number.

How a number is read (the first rule that applies):
1. annotation `iter8.tools/statistic` on the Metric: `rate`, `mean`, `percentile`, `value`,
   `exact` (and `iter8.tools/percentile: "95"` for which one);
2. a Counter (or, with no Metric at hand, a name ending in `count`/`total`) is `exact`: a
   count is measured, not estimated;
3. a histogram and a percentile in the name (`latency-95th-percentile`, `p99`) → `percentile`;
4. a histogram, or `mean`/`avg` in the name, with a sample size → `mean`;
5. a sample size and a value in [0, 1] → `rate` (errors/requests, conversions/users);
6. a sample size otherwise → `mean`;
7. no sample size → `value`, judged by its variation across iterations (a value since the
   start, by what each iteration added: `bayes.cumulative`).

Posteriors (priors stated plainly):
* rate: Beta(0.5 + events, 0.5 + n − events), the Jeffreys prior;
* mean: Normal(x̄, s²/n) with a flat prior on the mean; s from the histogram (bucket midpoints
  plus the within-bucket uniform variance), else s = `mean_cv_prior` × |x̄| (latency-like data
  has a coefficient of variation near 1; heavier tails make it larger);
* percentile: Dirichlet(counts + 1/K) over the K buckets, the percentile of each draw
  interpolated linearly inside its bucket;
* value (no sample size): judged by its own variation across iterations (`bayes.iterations`):
  a Student t around the mean of the per-iteration values, scale s/√k; with fewer than two
  values there is no posterior at all (no evidence; the version's split is held);
* exact: a point mass.
A rate, mean or percentile with n = 0 (nothing measured yet) is a belief without evidence, too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np

from iter8.analytics.bayes.iterations import MINIMUM, Series
from iter8.analytics.observations import Histogram
from iter8.api.metric import Metric

Kind = Literal["rate", "mean", "percentile", "value", "exact"]
Buckets = tuple[np.ndarray, np.ndarray, np.ndarray]  # lowers, uppers, counts; sorted
KINDS: tuple[Kind, ...] = ("rate", "mean", "percentile", "value", "exact")
STATISTIC_ANNOTATION = "iter8.tools/statistic"
TINY = 1e-12  # spreads below this are no spread: squared, they underflow to 0
PERCENTILE_ANNOTATION = "iter8.tools/percentile"
_PERCENTILE = re.compile(
    r"(?:^|[^a-z0-9])(?:p(\d{1,2}(?:\.\d+)?)|(\d{1,2}(?:\.\d+)?)(?:st|nd|rd|th)?[-_ ]?(?:percentile|pct|quantile))"
)
_MEAN = re.compile(r"mean|avg|average")
_COUNT = re.compile(r"(?:count|total)$")
NO_BUCKETS = np.zeros(0)  # shared by every belief without a histogram: read-only
NO_BUCKETS.setflags(write=False)


@dataclass(frozen=True, eq=False)
class Belief:
    """A posterior for one metric of one version, with what the sequential tests need."""

    kind: Kind
    value: float  # the number as observed (for a percentile: interpolated from the histogram)
    n: float = 0.0  # the sample behind it (requests); 0 when unknown
    events: float = 0.0  # rate: value × n
    unit_sd: float = 0.0  # mean, percentile: per-request standard deviation
    quantile: float = 0.0  # percentile: which one, in (0, 1)
    scale: float = 0.0  # value: standard error of the mean of the per-iteration values
    lowers: np.ndarray = field(default_factory=lambda: NO_BUCKETS)
    uppers: np.ndarray = field(default_factory=lambda: NO_BUCKETS)
    counts: np.ndarray = field(default_factory=lambda: NO_BUCKETS)
    series: Series | None = None  # value: the per-iteration values so far
    since_start: bool = False  # value: the series holds what each iteration added (`cumulative`)
    pairs: Mapping[str, Series] = field(default_factory=dict)  # value: other version → self − it

    @property
    def evidence(self) -> bool:
        """Whether there is anything measured behind it (else: no posterior, no test)."""
        if self.kind == "exact":
            return True
        if self.kind == "value":
            return self.series is not None and self.series.count >= MINIMUM
        if self.kind == "percentile":
            return float(self.counts.sum()) > 0
        return self.n > 0

    @property
    def testable(self) -> bool:
        """Whether anytime-valid tests apply (every kind, once there is evidence)."""
        return self.evidence

    @property
    def basis(self) -> str:
        """What kind of evidence it is, for the explanation."""
        if self.kind == "value":
            k = self.series.count if self.series else 0
            what = (
                "what each iteration added to a value since the start"
                if self.since_start
                else "per-iteration variation"
            )
            return f"{what}, {k} iteration{'s' if k != 1 else ''} (no sample size)"
        if self.kind == "exact":
            return "exact count"
        what = {"rate": "rate with its count", "mean": "mean with its count"}.get(self.kind)
        return f"{what or 'histogram'} (n {self.n:,.0f})"


def statistic(
    key: str, metric: Metric | None, has_histogram: bool, has_n: bool, value: float
) -> tuple[Kind, float]:
    """How to read this metric's number (module docstring), and the percentile as a fraction."""
    named_quantile, named_mean, named_count = _named(key)
    annotations = (metric.metadata.annotations if metric else None) or {}
    declared = annotations.get(STATISTIC_ANNOTATION, "").strip().lower()
    quantile = _quantile(annotations.get(PERCENTILE_ANNOTATION)) or named_quantile
    if declared in KINDS:
        return declared, quantile or 0.5  # type: ignore[return-value]
    counter = metric.spec.type == "Counter" if metric else named_count
    if counter:
        return "exact", 0.0
    if has_histogram and quantile is not None:
        return "percentile", quantile
    if has_n and (has_histogram or named_mean):
        return "mean", 0.0
    if has_n:
        return ("rate", 0.0) if 0.0 <= value <= 1.0 else ("mean", 0.0)
    return "value", 0.0


@lru_cache(maxsize=1024)
def _named(key: str) -> tuple[float | None, bool, bool]:
    """What the metric's name says: a percentile (as a fraction), a mean, a count. Read once
    per key: every step asks it for every metric and version."""
    name = key.rpartition("/")[2].lower()
    return _quantile_in(name), bool(_MEAN.search(name)), bool(_COUNT.search(name))


def _quantile(text: str | None) -> float | None:
    try:
        number = float(text) if text else None
    except ValueError:
        return None
    return number / 100 if number is not None and 0 < number < 100 else None


def _quantile_in(name: str) -> float | None:
    match = _PERCENTILE.search(name)
    return _quantile(match.group(1) or match.group(2)) if match else None


def make_belief(
    kind: Kind,
    value: float,
    n: float | None,
    buckets: Buckets | None,
    quantile: float,
    mean_cv_prior: float,
    series: Series | None = None,
    pairs: Mapping[str, Series] | None = None,
    since_start: bool = False,
) -> Belief:
    """The posterior for one observation; `series` holds a value's per-iteration values (with
    `since_start`, what each iteration added to a value since the start)."""
    size = float(n) if n is not None and n > 0 else 0.0
    if kind == "exact":
        return Belief("exact", value, n=size)
    if kind == "value" or (n is None and buckets is None):
        return _value_belief(value, series, pairs, since_start)
    if kind != "percentile" and size == 0:
        return Belief(kind, value)  # nothing measured yet: no evidence
    if kind == "rate":
        clipped = min(max(value, 0.0), 1.0)
        return Belief("rate", clipped, n=size, events=clipped * size)
    lowers, uppers, counts = buckets if buckets is not None else (NO_BUCKETS,) * 3
    if kind == "percentile" and counts.sum() > 0:
        point = float(percentile_of(lowers, uppers, counts[None, :], quantile)[0])
        return Belief(
            "percentile",
            point,
            n=float(counts.sum()),
            unit_sd=histogram_sd(lowers, uppers, counts),
            quantile=quantile,
            lowers=lowers,
            uppers=uppers,
            counts=counts,
        )
    if size == 0:  # a percentile with neither histogram counts nor a sample size
        return Belief("percentile", value, quantile=quantile)
    sd = histogram_sd(lowers, uppers, counts) if counts.sum() > 0 else 0.0
    if not sd > TINY:  # no spread measured (or one too small to divide by): the stated CV
        sd = mean_cv_prior * (abs(value) if abs(value) > TINY else 1.0)
    return Belief("mean", value, n=size, unit_sd=sd)


def _value_belief(
    value: float, series: Series | None, pairs: Mapping[str, Series] | None, since_start: bool
) -> Belief:
    level = value if series is None or series.count < MINIMUM else series.mean
    scale = series.scale if series is not None and series.count >= MINIMUM else 0.0
    return Belief(
        "value", level, scale=scale, series=series, pairs=pairs or {}, since_start=since_start
    )


def buckets_of(histogram: Histogram | None) -> Buckets | None:
    """A histogram as sorted arrays; an open top bucket reaches twice its lower edge (there is
    no width to interpolate in otherwise). None for no histogram or no buckets."""
    if histogram is None or not histogram.buckets:
        return None
    ordered = sorted(histogram.buckets, key=lambda b: (b.lower, b.upper))
    lowers = np.array([b.lower for b in ordered], dtype=float)
    uppers = np.array([b.upper for b in ordered], dtype=float)
    open_top = ~np.isfinite(uppers)
    uppers[open_top] = np.where(lowers[open_top] > 0, 2 * lowers[open_top], 1.0)
    counts = np.array([b.count for b in ordered], dtype=float)
    return lowers, uppers, counts


def histogram_sd(lowers: np.ndarray, uppers: np.ndarray, counts: np.ndarray) -> float:
    """Per-observation sd: spread of bucket midpoints plus uniform spread inside each bucket."""
    total = counts.sum()
    if total <= 0:
        return 0.0
    mids = (lowers + uppers) / 2
    mean = float((counts * mids).sum() / total)
    within = (uppers - lowers) ** 2 / 12
    variance = float((counts * ((mids - mean) ** 2 + within)).sum() / total)
    return math.sqrt(max(variance, 0.0))


def percentile_of(
    lowers: np.ndarray, uppers: np.ndarray, probabilities: np.ndarray, quantile: float
) -> np.ndarray:
    """The `quantile` of each row of bucket masses, interpolated linearly inside its bucket."""
    return percentiles_of(lowers, uppers, probabilities, [quantile])[0]


def percentiles_of(
    lowers: np.ndarray, uppers: np.ndarray, probabilities: np.ndarray, quantiles: Sequence[float]
) -> list[np.ndarray]:
    """Several quantiles of each row of bucket masses, from one cumulative sum."""
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative /= cumulative[:, -1:]
    rows = np.arange(cumulative.shape[0])
    widths = uppers - lowers
    result = []
    for quantile in quantiles:
        index = np.minimum((cumulative < quantile).sum(axis=1), cumulative.shape[1] - 1)
        after = cumulative[rows, index]
        before = np.where(index > 0, cumulative[rows, index - 1], 0.0)
        inside = after - before
        fraction = np.clip(
            np.divide(quantile - before, inside, where=inside > 0, out=np.zeros_like(inside)), 0, 1
        )
        result.append(lowers[index] + fraction * widths[index])
    return result
