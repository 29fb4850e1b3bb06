"""`describe`'s "to settle": how much more data settles an open objective (`bayes.projection`).

Two kinds of test: the amount is the least at which the objective's own verdict settles on the
data scaled up (a property of the search), and over many seeded streams the amount is
calibrated: the data a stream really needed, divided by the amount said when it was asked, has
a median near 1. The normal approximation this replaces said 0.5%-vs-1% errors needed 2.7 times
too few requests (median over the same streams), and a mean 1.7 times too few.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from iter8.analytics.bayes import projection
from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.iterations import Series
from iter8.analytics.bayes.objectives import Limits, Verdict, check
from iter8.analytics.bayes.settings import Settings

SETTINGS = Settings()
N_STAR, N_MAX = 10_000.0, 20_000.0  # a horizon: both the mixtures and the boundary prove


def judge_of(limits: Limits, min_values: int = 1) -> Callable[[Belief], Verdict]:
    def judge(belief: Belief) -> Verdict:
        return check(
            belief,
            np.zeros(1),  # the verdict does not read the draws
            limits,
            SETTINGS.alpha,
            SETTINGS.tau,
            SETTINGS.min_samples,
            N_STAR,
            N_MAX,
            min_values,
        ).verdict

    return judge


ERRORS = Limits("ns/error-rate", None, 0.01, True)
LATENCY = Limits("ns/mean-latency", None, 100.0, True)
LEVEL = Limits("ns/revenue", 10.0, None, True)


def series_of(values: list[float]) -> Series:
    series = Series()
    for v in values:
        series = series.add(v)
    return series


OPEN = [
    pytest.param(Belief("rate", 0.006, n=500, events=3), ERRORS, id="rate under its limit"),
    pytest.param(Belief("rate", 0.014, n=500, events=7), ERRORS, id="rate over its limit"),
    pytest.param(Belief("mean", 90.0, n=300, unit_sd=85.0), LATENCY, id="mean under its limit"),
    pytest.param(
        Belief("value", 11.0, series=series_of([10.2, 11.9, 10.6, 11.3])),
        LEVEL,
        id="values above their floor",
    ),
]


@pytest.mark.parametrize(("belief", "limits"), OPEN)
def test_the_amount_is_the_least_that_settles_the_objective(belief: Belief, limits: Limits) -> None:
    judge = judge_of(limits)
    assert judge(belief) == "undecided"
    guess = projection.more_to_settle([(belief, judge)])
    assert guess is not None
    amount, _ = guess
    have, _ = projection.units(belief) or (0.0, "")
    assert 0 < amount < math.inf
    assert judge(projection.scaled(belief, 1 + amount / have)) in ("holds", "fails")
    assert judge(projection.scaled(belief, 1 + 0.9 * amount / have)) == "undecided"


def test_the_direction_follows_the_estimate() -> None:
    under, over = (Belief("rate", p, n=500, events=500 * p) for p in (0.006, 0.014))
    judge = judge_of(ERRORS)
    for belief, outcome in ((under, "holds"), (over, "fails")):
        amount, unit = projection.more_to_settle([(belief, judge)]) or (0.0, "")
        assert unit == "requests"
        assert judge(projection.scaled(belief, 1 + amount / belief.n)) == outcome


def test_several_objectives_need_what_the_slowest_needs() -> None:
    errors = Belief("rate", 0.006, n=500, events=3)
    latency = Belief("mean", 90.0, n=500, unit_sd=85.0)
    alone = [
        projection.more_to_settle([(errors, judge_of(ERRORS))]),
        projection.more_to_settle([(latency, judge_of(LATENCY))]),
    ]
    both = projection.more_to_settle([(errors, judge_of(ERRORS)), (latency, judge_of(LATENCY))])
    assert both is not None and all(a is not None for a in alone)
    slowest = max(a[0] for a in alone if a is not None)
    assert both[0] == pytest.approx(slowest, rel=0.05)


def test_an_estimate_on_its_limit_cannot_be_estimated() -> None:
    on_the_limit = Belief("rate", 0.01, n=2000, events=20)
    assert projection.more_to_settle([(on_the_limit, judge_of(ERRORS))]) == (math.inf, "requests")


@pytest.mark.parametrize(
    "belief",
    [
        pytest.param(Belief("rate", 0.0, n=0, events=0), id="nothing measured"),
        pytest.param(Belief("exact", 3.0), id="an exact count"),
        pytest.param(Belief("rate", 0.002, n=4000, events=8), id="settled already"),
    ],
)
def test_nothing_to_say_where_more_data_settles_nothing(belief: Belief) -> None:
    assert projection.more_to_settle([(belief, judge_of(ERRORS))]) is None


def _needed_over_said(kind: str, seeds: int = 200) -> np.ndarray:
    """Per seeded stream still open at 500 requests: the requests it then needed to settle,
    over the amount said at 500 (the stream read every 100 requests)."""
    limits = ERRORS if kind == "rate" else LATENCY
    judge = judge_of(limits)
    ratios = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        n, events, total, squares, said = 0, 0.0, 0.0, 0.0, None
        while n < 400_000:
            if kind == "rate":
                events += rng.binomial(100, 0.005)
            else:
                latencies = rng.gamma(1.0, 85.0, 100)  # mean 85 against 100, sd 85
                total, squares = total + latencies.sum(), squares + (latencies**2).sum()
            n += 100
            if kind == "rate":
                belief = Belief("rate", events / n, n=n, events=events)
            else:
                mean = total / n
                belief = Belief("mean", mean, n=n, unit_sd=math.sqrt(squares / n - mean * mean))
            if judge(belief) != "undecided":
                if said is not None:
                    ratios.append((n - 500) / said)
                break
            if n == 500:
                guess = projection.more_to_settle([(belief, judge)])
                said = guess[0] if guess and 0 < guess[0] < math.inf else None
    return np.array(ratios)


@pytest.mark.parametrize("kind", ["rate", "mean"])
def test_the_amount_is_calibrated_over_seeded_streams(kind: str) -> None:
    ratios = _needed_over_said(kind)
    assert len(ratios) >= 50
    assert 0.6 <= float(np.median(ratios)) <= 1.6, np.quantile(ratios, [0.1, 0.5, 0.9])
    assert float(np.mean((ratios > 1 / 3) & (ratios < 3))) >= 0.5
