"""Flagger's canary analysis: stepWeight 10 up to maxWeight 50, every objective checked on the
canary each interval (cumulative values), rollback once 5 checks have failed.

As decision-anchors.md §3 states it: the first interval routes 10% without analysis; a failed or
missing check halts advancement and counts (never reset); reaching the threshold rolls back; a
passing check advances by 10, or promotes at maxWeight. It has no reward: in A/B it promotes any
candidate that passes the SLOs. One candidate only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.policy import Step
from bench.scenarios import ERROR_LIMIT, P95_LIMIT, Scenario
from bench.world import Snapshot, p95_of

STEP_WEIGHT = 10
MAX_WEIGHT = 50
THRESHOLD = 5


@dataclass
class Flagger:
    scenario: Scenario
    weight: int = STEP_WEIGHT
    failed: int = 0
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.scenario.arms) != 2:
            raise ValueError("Flagger analyses one canary only")
        self.names = self.scenario.versions

    def start(self) -> list[int]:
        return [100 - self.weight, self.weight]

    def step(self, iteration: int, snapshot: Snapshot) -> Step:
        if self._passes(snapshot):
            if self.weight >= MAX_WEIGHT:
                return Step("promote", self.start(), self.names[1])
            self.weight = min(MAX_WEIGHT, self.weight + STEP_WEIGHT)
        else:
            self.failed += 1
            if self.failed >= THRESHOLD:
                return Step("rollback", [100, 0])
        if iteration >= self.scenario.max_iterations:
            return Step("no-winner", [100, 0])
        return Step("continue", self.start())

    @staticmethod
    def _passes(snapshot: Snapshot) -> bool:
        """Each check is one query, the error rate's on its own (as Flagger's built-in
        request-success-rate is); no data is a failed check in Flagger."""
        rate, histogram = snapshot.rate(snapshot.errors, 1), snapshot.histograms[1]
        if snapshot.empty or rate is None or rate != rate or histogram is None:
            return False
        return rate <= ERROR_LIMIT and p95_of(histogram) <= P95_LIMIT
