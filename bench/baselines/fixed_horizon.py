"""The classical fixed-horizon test: an equal split for the designed number of iterations, then
one test at α = 0.05 (decision-anchors.md §3).

SLOs: the one-sided 95% Clopper–Pearson upper bound of each bad-event rate (errors; requests
slower than 250 ms, which tests p95 ≤ 250) must be within its limit. Reward: a two-sided
two-proportion z-test against the baseline at α/(V − 1). Canary promotes iff the candidate's
SLOs pass; A/B(/N) promotes the best-observed candidate that passes and is significantly better,
else keeps the baseline; Pareto (rewards at α/(V − 1)/R) one that passes, is significantly
better on a reward and significantly worse on none. The design is powered for 1.2% errors
against the 1% limit. A reward without a sample size (a bare gauge) has no test: n/a there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from scipy.stats import beta, norm

from bench.policy import Step
from bench.scenarios import ERROR_LIMIT, Scenario, fixed_horizon_iterations
from bench.world import LIMIT_INDEX, Snapshot

ALPHA = 0.05


@dataclass
class FixedHorizon:
    scenario: Scenario
    horizon: int = 0
    last: Snapshot | None = None
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.horizon = fixed_horizon_iterations(self.scenario)
        self.names = self.scenario.versions

    def start(self) -> list[int]:
        size = len(self.names)
        weights = [100 // size] * size
        weights[0] += 100 - sum(weights)
        return weights

    def quiet(self, iteration: int) -> int:
        """Until the horizon nothing is looked at, so the simulator may draw those intervals at
        once; with a flaky backend every interval is drawn, as the test falls back to the newest
        complete answer."""
        if self.scenario.drop > 0 or self.scenario.lag > 0:
            return 1
        return max(1, self.horizon - iteration)

    def step(self, iteration: int, snapshot: Snapshot) -> Step:
        self.last = _merge(self.last, snapshot)
        if iteration < self.horizon:
            return Step("continue", self.start())
        winner = self._decide(self.last)
        if winner == self.names[0]:
            return Step("rollback", self.start())
        return Step("promote", self.start(), winner)

    def _decide(self, data: Snapshot) -> str:
        safe = [self._safe(data, i) for i in range(len(self.names))]
        pattern = self.scenario.pattern
        if pattern == "Canary":
            return self.names[1] if safe[1] else self.names[0]
        rewards = [_COUNTS[r](data) for r in self.scenario.rewards]
        level = ALPHA / (len(self.names) - 1) / (len(rewards) if pattern == "Pareto" else 1)
        best, best_rate = self.names[0], -1.0
        for i in range(1, len(self.names)):
            rate = _rate(rewards[0][i], data.requests[i])
            if pattern == "Pareto":
                z = [_z(data.requests, counts, i) for counts in rewards]
                edge = norm.ppf(1 - level / 2)
                better = any(v > edge for v in z) and not any(v < -edge for v in z)
            else:
                better = _z(data.requests, rewards[0], i) > norm.ppf(1 - level / 2)
            if safe[i] and better and rate > best_rate:
                best, best_rate = self.names[i], rate
        return best

    @staticmethod
    def _safe(data: Snapshot, i: int) -> bool:
        n, errors, histogram = data.requests[i], data.errors[i], data.histograms[i]
        if not n or errors is None or histogram is None:
            return False
        slow = float(histogram[LIMIT_INDEX:].sum())
        return _upper(errors, n) <= ERROR_LIMIT and _upper(slow, float(histogram.sum())) <= 0.05


def _upper(events: float, n: float) -> float:
    """One-sided 95% Clopper–Pearson upper bound."""
    return 1.0 if events >= n else float(beta.ppf(1 - ALPHA, events + 1, n - events))


def _rate(events: float | None, n: float | None) -> float:
    return (events or 0.0) / n if n else 0.0


_COUNTS = {"conversion": lambda d: d.conversions, "signup": lambda d: d.signups}


def _z(requests: Sequence[float | None], counts: Sequence[float | None], i: int) -> float:
    """The two-proportion z statistic of version i against the baseline (0 without data)."""
    n0, n1, c0, c1 = requests[0], requests[i], counts[0], counts[i]
    if not n0 or not n1 or c0 is None or c1 is None:
        return 0.0
    pooled = (c0 + c1) / (n0 + n1)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
    return (c1 / n1 - c0 / n0) / se if se else 0.0


_PER_VERSION = [f.name for f in fields(Snapshot) if f.type.startswith("list")]


def _merge(last: Snapshot | None, now: Snapshot) -> Snapshot:
    """Per version, the newest snapshot in which all of its queries answered (so counts and
    their sample size come from the same moment)."""
    if last is None:
        return now
    merged = Snapshot([], [], [], [], independent=now.independent)
    for i in range(len(now.requests)):
        answers = [getattr(now, name) for name in _PER_VERSION]
        complete = all(a[i] is not None for a in answers if a)
        source = now if complete and not now.empty else last
        for name in _PER_VERSION:
            if getattr(source, name):
                getattr(merged, name).append(getattr(source, name)[i])
    return merged
