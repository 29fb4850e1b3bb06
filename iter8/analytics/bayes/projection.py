"""How much more would settle an open objective: `describe`'s "to settle".

The objective's own tests (`objectives.check`'s verdict: the mixtures, the horizon boundary, the
minimum sample) are run again on the version's data scaled up with the estimate held where it
is, and the answer is the least growth at which they prove it holds or fails. So the guide
pays what the tests really pay: the mixture's price, which grows with n, the Bernoulli tests'
exact evidence (near 0 a rate gains less per request than a normal approximation says), the
horizon boundary's shortcut. It is a plug-in guide, not a promise: the estimate moves as data
come. Its calibration over seeded runs is measured (`tests/analytics/test_projection.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.iterations import Series
from iter8.analytics.bayes.objectives import Verdict

Judge = Callable[[Belief], Verdict]  # an objective's verdict on a belief (`objectives.check`)
MOST = 2.0**20  # growth beyond this many times the data so far: "more than can be estimated"
STEPS = 4  # halvings of the bracket once found: within 2^(1/16) (4%) of the least amount


def units(belief: Belief) -> tuple[float, str] | None:
    """What the version has so far, in the units the objective is proven in; None where no
    growth settles anything (exact counts, nothing measured)."""
    if belief.kind == "value":
        series = belief.series
        if series is None or series.weight <= 0:
            return None
        unit = "iterations of all the traffic" if belief.since_start else "iterations"
        return series.weight, unit
    if belief.kind == "percentile":
        n = float(belief.counts.sum())
        return (n, "requests") if n > 0 else None
    if belief.kind in ("rate", "mean") and belief.n > 0:
        return belief.n, "requests"
    return None


def scaled(belief: Belief, factor: float) -> Belief:
    """The belief with `factor` times the data and the same estimate."""
    if belief.kind == "rate":
        return replace(belief, n=belief.n * factor, events=belief.events * factor)
    if belief.kind == "percentile":
        return replace(belief, n=belief.n * factor, counts=belief.counts * factor)
    if belief.kind == "value" and belief.series is not None:
        return replace(belief, series=_grown(belief.series, factor))
    return replace(belief, n=belief.n * factor)


def _grown(series: Series, factor: float) -> Series:
    """`factor` times the values (at least one more), with the same mean and spread."""
    count = max(series.count + 1, math.ceil(series.count * factor))
    squares = series.sd**2 * (count - 1)
    return Series(count, series.mean, squares, series.weight * count / series.count)


def more_to_settle(open_: Sequence[tuple[Belief, Judge]]) -> tuple[float, str] | None:
    """How much more data settles every one of a version's open objectives if the estimates
    are the truth: the same amount added to each (in `units`, those of the first objective
    that has any; objectives in other units are left out); infinite when no amount up to
    `MOST` times the data does (an estimate on its limit); None when more data settles
    nothing here, or all are settled already.

    One search for them all, not one each: the objective that last stood unsettled is asked
    first, so most steps cost one verdict (a verdict costs ~40 µs; a step of 10 versions ×
    10 metrics may have 70 open objectives)."""
    measured = [(b, judge, have) for b, judge in open_ if (have := units(b)) is not None]
    if not measured:
        return None
    unit = measured[0][2][1]
    group = [(b, judge, amount) for b, judge, (amount, u) in measured if u == unit]
    order = list(range(len(group)))

    def settled(extra: float) -> bool:
        for position, i in enumerate(order):
            belief, judge, have = group[i]
            if judge(scaled(belief, 1.0 + extra / have)) not in ("holds", "fails"):
                order.insert(0, order.pop(position))
                return False
        return True

    if settled(0.0):
        return None
    most = max(have for _, _, have in group)
    if settled(most):
        high = most
        while high >= 2 and settled(high / 2):
            high /= 2
        low = high / 2
    else:
        low, high = most, most * 2
        while not settled(high):
            if high >= most * MOST:
                return math.inf, unit
            low, high = high, high * 2
    for _ in range(STEPS):
        middle = math.sqrt(low * high)
        if settled(middle):
            high = middle
        else:
            low = middle
    return high, unit
