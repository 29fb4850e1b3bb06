"""The classical fixed-horizon test: an equal split for the designed number of iterations, then
one test at α = 0.05 (decision-anchors.md §3).

SLOs: the one-sided 95% Clopper–Pearson upper bound of each bad-event rate (errors; requests
slower than 250 ms, which tests p95 ≤ 250) must be within its limit. Reward: a two-sided
two-proportion z-test against the baseline at α/(V − 1). Canary promotes iff the candidate's
SLOs pass; A/B(/N) promotes the best-observed candidate that passes and is significantly better,
else keeps the baseline. The design is powered for 1.2% errors against the 1% limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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
        if self.scenario.drop > 0:
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
        if self.scenario.pattern == "Canary":
            return self.names[1] if safe[1] else self.names[0]
        level = ALPHA / (len(self.names) - 1)
        best, best_rate = self.names[0], -1.0
        for i in range(1, len(self.names)):
            rate = _rate(data.conversions[i], data.requests[i])
            if safe[i] and _better(data, i, level) and rate > best_rate:
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


def _better(data: Snapshot, i: int, level: float) -> bool:
    n0, n1 = data.requests[0], data.requests[i]
    c0, c1 = data.conversions[0], data.conversions[i]
    if not n0 or not n1 or c0 is None or c1 is None:
        return False
    pooled = (c0 + c1) / (n0 + n1)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
    if se == 0:
        return False
    z = (c1 / n1 - c0 / n0) / se
    return z > norm.ppf(1 - level / 2)


def _merge(last: Snapshot | None, now: Snapshot) -> Snapshot:
    """Per version, the newest snapshot in which all of its queries answered (so counts and
    their sample size come from the same moment)."""
    if last is None:
        return now
    merged = Snapshot([], [], [], [])
    for i in range(len(now.requests)):
        fields = (now.requests[i], now.errors[i], now.conversions[i], now.histograms[i])
        source = now if all(f is not None for f in fields) else last
        merged.requests.append(source.requests[i])
        merged.errors.append(source.errors[i])
        merged.conversions.append(source.conversions[i])
        merged.histograms.append(source.histograms[i])
    return merged
