"""Posteriors and intervals: frequentist coverage over many seeded data sets, within a binomial
tolerance, and the anytime-valid tests' error rates under continuous monitoring."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iter8.analytics.bayes.beliefs import buckets_of, make_belief, statistic
from iter8.analytics.bayes.draws import draw, gamma_draws, summaries
from iter8.analytics.bayes.sequential import confidence_radius, log_e_normal, log_e_rate
from iter8.analytics.observations import Bucket, Histogram

RUNS = 400
LEVEL = 0.95
# coverage may fall this far from 95% by chance: 3 binomial standard deviations at 400 runs
TOLERANCE = 3 * math.sqrt(LEVEL * (1 - LEVEL) / RUNS)
EDGES = np.array([0, 20, 40, 60, 80, 100, 120, 140, 170, 200, 250, 300, 400, 600, 1000.0])


def covered(truth: float, draws: np.ndarray) -> bool:
    _, (low,), (high,) = summaries([draws], LEVEL)
    return low <= truth <= high


def histogram(counts: np.ndarray) -> Histogram:
    return Histogram(
        buckets=[
            Bucket(lower=lo, upper=up, count=c)
            for lo, up, c in zip(EDGES[:-1], EDGES[1:], counts, strict=True)
        ]
    )


def piecewise_quantile(probabilities: np.ndarray, q: float) -> float:
    """The exact quantile of a density uniform inside each bucket."""
    cumulative = np.concatenate([[0.0], np.cumsum(probabilities)])
    i = int(np.searchsorted(cumulative, q) - 1)
    fraction = (q - cumulative[i]) / probabilities[i]
    return float(EDGES[i] + fraction * (EDGES[i + 1] - EDGES[i]))


@pytest.mark.parametrize(("rate", "n"), [(0.005, 2000), (0.1, 500), (0.3, 100)])
def test_rate_intervals_cover_the_truth(rate: float, n: int) -> None:
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(RUNS):
        events = rng.binomial(n, rate)
        belief = make_belief("rate", events / n, n, None, 0.0, 1.0)
        hits += covered(rate, draw(belief, rng, 2000))
    assert abs(hits / RUNS - LEVEL) <= TOLERANCE, hits / RUNS


@pytest.mark.parametrize("q", [0.5, 0.95])
def test_percentile_intervals_cover_the_truth(q: float) -> None:
    rng = np.random.default_rng(2)
    probabilities = np.array([2, 8, 15, 20, 18, 12, 8, 6, 4, 3, 2, 1, 0.6, 0.4])
    probabilities = probabilities / probabilities.sum()
    truth = piecewise_quantile(probabilities, q)
    hits = 0
    for _ in range(RUNS):
        counts = rng.multinomial(3000, probabilities).astype(float)
        belief = make_belief("percentile", 0.0, None, buckets_of(histogram(counts)), q, 1)
        hits += covered(truth, draw(belief, rng, 2000))
    assert abs(hits / RUNS - LEVEL) <= TOLERANCE, hits / RUNS


def test_mean_intervals_from_histogram_cover_the_truth() -> None:
    rng = np.random.default_rng(3)
    probabilities = np.array([5, 10, 20, 25, 15, 10, 6, 4, 2, 1.5, 1, 0.3, 0.15, 0.05])
    probabilities = probabilities / probabilities.sum()
    mids = (EDGES[:-1] + EDGES[1:]) / 2
    truth = float((probabilities * mids).sum())
    hits = 0
    for _ in range(RUNS):
        bucket = rng.choice(len(probabilities), size=1000, p=probabilities)
        values = rng.uniform(EDGES[bucket], EDGES[bucket + 1])
        counts = np.bincount(bucket, minlength=len(probabilities)).astype(float)
        buckets = buckets_of(histogram(counts))
        belief = make_belief("mean", float(values.mean()), 1000, buckets, 0, 1)
        hits += covered(truth, draw(belief, rng, 2000))
    assert abs(hits / RUNS - LEVEL) <= TOLERANCE, hits / RUNS


def test_a_value_without_sample_size_is_judged_by_its_variation() -> None:
    """One value: no posterior, no test. Several: a Student t whose width is their spread."""
    from iter8.analytics.bayes.iterations import Series

    one = make_belief("value", 20.0, None, None, 0.0, 1.0, Series().add(20.0))
    assert one.kind == "value" and not one.evidence and not one.testable
    series = Series()
    for x in (18.0, 22.0, 19.0, 21.0):
        series = series.add(x)
    belief = make_belief("value", 21.0, None, None, 0.0, 1.0, series)
    assert belief.evidence and belief.value == pytest.approx(20.0)
    draws = draw(belief, np.random.default_rng(0), 20000)
    assert float(np.median(draws)) == pytest.approx(20.0, abs=0.05)
    assert belief.scale == pytest.approx(series.sd / 2)


def test_wilson_hilferty_gammas_match_exact_gammas() -> None:
    rng = np.random.default_rng(4)
    for shape in (10.0, 50.0, 5000.0):
        approximate = gamma_draws(np.array([shape]), rng, 100_000)[:, 0]
        exact = rng.standard_gamma(shape, 100_000)
        assert approximate.mean() == pytest.approx(exact.mean(), rel=0.01)
        assert np.quantile(approximate, 0.99) == pytest.approx(np.quantile(exact, 0.99), rel=0.01)


@pytest.mark.parametrize("side", ["below", "above"])
def test_bernoulli_mixture_errs_at_most_alpha_under_continuous_monitoring(side: str) -> None:
    """At the limit itself (the hardest null), looking after every 50 requests up to 20,000."""
    rng = np.random.default_rng(5)
    limit, alpha, runs = 0.01, 0.05, 400
    looks = np.arange(50, 20_001, 50)
    wrong = 0
    for _ in range(runs):
        events = np.cumsum(rng.random(20_000) < limit)[looks - 1]
        wrong += any(
            log_e_rate(float(x), float(n), limit, side) >= math.log(1 / alpha)
            for x, n in zip(events, looks, strict=True)
        )  # type: ignore[arg-type]
    assert wrong / runs <= alpha, wrong / runs


def test_bernoulli_mixture_finds_a_clear_difference() -> None:
    assert log_e_rate(25, 500, 0.01, "above") > math.log(20)  # 5% errors against a 1% limit
    assert log_e_rate(10, 4000, 0.01, "below") > math.log(20)  # 0.25% errors: proven within
    assert log_e_rate(50, 5000, 0.01, "below") < 0  # exactly at the limit: no evidence


def test_normal_mixture_confidence_sequence_covers_at_every_look() -> None:
    """Simultaneous coverage: the truth stays inside at all 60 looks in ≥ 95% of sequences."""
    rng = np.random.default_rng(6)
    alpha, runs, truth, sd, tau = 0.05, 400, 0.3, 1.0, 0.1
    missed = 0
    for _ in range(runs):
        sums = np.cumsum(rng.normal(truth, sd, 6000))
        ns = np.arange(100, 6001, 100)
        estimates = sums[ns - 1] / ns
        radii = np.array([confidence_radius(sd**2 / n, tau, alpha) for n in ns])
        missed += bool(np.any(np.abs(estimates - truth) > radii))
    assert missed / runs <= alpha, missed / runs


def test_one_sided_normal_mixture_is_valid_under_its_null() -> None:
    rng = np.random.default_rng(7)
    alpha, runs = 0.05, 400
    wrong = 0
    for _ in range(runs):
        sums = np.cumsum(rng.normal(0.0, 1.0, 5000))
        wrong += any(
            log_e_normal(sums[n - 1] / n, 1.0 / n, 0.1) >= math.log(1 / alpha)
            for n in range(50, 5001, 50)
        )
    assert wrong / runs <= alpha, wrong / runs


@pytest.mark.parametrize(
    ("key", "histogram_given", "n", "value", "expected"),
    [
        ("ns/latency-95th-percentile", True, True, 180.0, ("percentile", 0.95)),
        ("ns/p99", True, True, 180.0, ("percentile", 0.99)),
        ("ns/mean-latency", False, True, 80.0, ("mean", 0.0)),
        ("ns/error-rate", False, True, 0.01, ("rate", 0.0)),
        ("ns/user-engagement", False, False, 15.0, ("value", 0.0)),
        ("ns/request-count", False, False, 100.0, ("exact", 0.0)),
        ("ns/revenue", False, True, 12.5, ("mean", 0.0)),
    ],
)
def test_numbers_are_read_by_kind(
    key: str, histogram_given: bool, n: bool, value: float, expected: tuple[str, float]
) -> None:
    kind, quantile = statistic(key, None, histogram_given, n, value)
    assert (kind, pytest.approx(quantile)) == expected


def test_summaries_are_each_samples_own_mean_and_order_statistics() -> None:
    """Stacked and sorted together, samples of several sizes keep their own numbers, exactly."""
    rng = np.random.default_rng(11)
    samples = [rng.standard_t(2, size) * 10 + 3 for size in (1000, 7, 1000, 1, 250, 7)]
    means, lows, highs = summaries(samples, 0.9)
    for sample, mean, low, high in zip(samples, means, lows, highs, strict=True):
        ordered, last = np.sort(sample), len(sample) - 1
        assert mean == sample.mean()
        assert (low, high) == (ordered[round(0.05 * last)], ordered[round(0.95 * last)])
