"""Experiments with known truth: per version an error probability, a latency distribution and a
conversion rate; the objectives are those of decision-anchors.md (error rate ≤ 1%, p95 latency
≤ 250 ms) plus conversion as the reward in A/B and A/B/N.

Latency is log-normal, or for the heavy-tailed case a mixture with a slow log-normal component;
each distribution is pinned by its true p95 (solved numerically), so "5% over the limit" means
exactly that. Truth follows decision-anchors.md §4: a version is feasible iff its true error
rate and true p95 meet every objective; the correct decision is, for Canary, the candidate if
feasible else the baseline, for A/B(/N) the feasible version with the highest conversion, the
baseline unless a candidate is strictly better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

ERROR_LIMIT = 0.01
P95_LIMIT = 250.0  # ms
# Prometheus-style bucket edges (ms); the limit is an edge, as a user would configure it
EDGES = (0, 10, 25, 50, 75, 100, 125, 150, 175, 200, 225, 250, 275, 300, 350, 400, 500, 750,
         1000, 2500, 5000, 10000)  # fmt: skip
Pattern = Literal["Canary", "A/B", "A/B/N"]


@dataclass(frozen=True)
class Latency:
    p95: float  # ms, the true 95th percentile
    sigma: float = 0.5  # of the log-normal body
    tail: float = 0.0  # share of requests from the slow component
    tail_shift: float = 1.2  # the slow component's log-scale shift
    tail_sigma: float = 0.9

    def cdf(self, x: np.ndarray | float, mu: float) -> np.ndarray:
        x = np.maximum(np.asarray(x, dtype=float), 1e-9)
        body = norm.cdf((np.log(x) - mu) / self.sigma)
        if self.tail == 0:
            return body
        slow = norm.cdf((np.log(x) - mu - self.tail_shift) / self.tail_sigma)
        return (1 - self.tail) * body + self.tail * slow

    @cached_property
    def mu(self) -> float:
        """The log-scale location that puts the 95th percentile at `p95`."""
        return float(brentq(lambda m: float(self.cdf(self.p95, m)) - 0.95, -10.0, 20.0))

    @cached_property
    def bucket_probabilities(self) -> np.ndarray:
        cumulative = self.cdf(np.array(EDGES, dtype=float), self.mu)
        cumulative[0], cumulative[-1] = 0.0, 1.0  # the top bucket holds the rest
        return np.diff(cumulative)


@dataclass(frozen=True)
class Arm:
    """The truth about one version."""

    error: float = 0.005
    latency: Latency = field(default_factory=lambda: Latency(p95=180.0))
    conversion: float = 0.10

    @property
    def feasible(self) -> bool:
        return self.error <= ERROR_LIMIT and self.latency.p95 <= P95_LIMIT


@dataclass(frozen=True)
class Scenario:
    name: str
    pattern: Pattern
    arms: tuple[Arm, ...]  # baseline first
    description: str
    traffic: int = 2000  # requests per iteration, all versions together
    max_iterations: int = 20
    drop: float = 0.0  # probability that one metric query (one metric, one version) fails
    no_difference: bool = False  # a null scenario: no candidate is truly better

    @property
    def versions(self) -> list[str]:
        return [f"v{i + 1}" for i in range(len(self.arms))]

    @property
    def correct(self) -> str:
        names, arms = self.versions, self.arms
        if self.pattern == "Canary":
            return names[1] if arms[1].feasible else names[0]
        best = 0
        for i, arm in enumerate(arms[1:], 1):
            if arm.feasible and arm.conversion > arms[best].conversion:
                best = i
        return names[best]

    def inferior(self) -> list[bool]:
        """Per version: violates an SLO, or (A/B) converts worse than the correct version."""
        target = self.arms[self.versions.index(self.correct)]
        return [
            not a.feasible or (self.pattern != "Canary" and a.conversion < target.conversion)
            for a in self.arms
        ]

    def bad_promotion(self, version: str) -> bool:
        """Promoting this candidate is a false promotion (decision-anchors.md §4)."""
        index = self.versions.index(version)
        if index == 0:
            return False
        arm = self.arms[index]
        if not arm.feasible:
            return True
        return self.pattern != "Canary" and arm.conversion <= self.arms[0].conversion


def _ab(*conversions: float) -> tuple[Arm, ...]:
    return tuple(Arm(conversion=c) for c in conversions)


def fixed_horizon_iterations(scenario: Scenario) -> int:
    """The fixed design: enough requests per version to detect errors of 1.2% against the 1%
    limit (one-sided α = 0.05, power 0.8), at an equal split (decision-anchors.md: 17 at 2,000
    requests per iteration, 652 at 50)."""
    limit, slightly = ERROR_LIMIT, 0.012
    z_alpha, z_beta = norm.ppf(0.95), norm.ppf(0.8)
    per_version = (
        (z_alpha * math.sqrt(limit * (1 - limit)) + z_beta * math.sqrt(slightly * (1 - slightly)))
        / (slightly - limit)
    ) ** 2
    return math.ceil(per_version / (scenario.traffic / len(scenario.arms)))


HEAVY = Latency(p95=180.0, sigma=0.35, tail=0.04, tail_shift=1.6, tail_sigma=1.0)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "canary-identical",
        "Canary",
        (Arm(), Arm()),
        "no real difference (canary)",
        no_difference=True,
    ),
    Scenario(
        "ab-no-difference", "A/B", _ab(0.10, 0.10), "no real difference (A/B)", no_difference=True
    ),
    Scenario(
        "ab-clearly-better",
        "A/B",
        _ab(0.10, 0.13),
        "candidate clearly better: 13% vs 10% conversion",
    ),
    Scenario("ab-slightly-better", "A/B", _ab(0.10, 0.11), "candidate slightly better: 11% vs 10%"),
    Scenario("ab-worse", "A/B", _ab(0.10, 0.09), "candidate worse on reward: 9% vs 10%"),
    Scenario(
        "canary-errors-slight",
        "Canary",
        (Arm(), Arm(error=0.012)),
        "candidate 1.2% errors (limit 1%)",
    ),
    Scenario(
        "canary-errors-high", "Canary", (Arm(), Arm(error=0.05)), "candidate 5% errors (limit 1%)"
    ),
    Scenario(
        "canary-heavy-tail",
        "Canary",
        (Arm(latency=HEAVY), Arm(latency=Latency(262.5, 0.35, 0.04, 1.6, 1.0))),
        "heavy-tailed latency, candidate p95 5% over the limit",
    ),
    Scenario(
        "abn-4-versions", "A/B/N", _ab(0.10, 0.10, 0.12, 0.09), "A/B/N, 4 versions, one 12% vs 10%"
    ),
    Scenario(
        "canary-low-traffic",
        "Canary",
        (Arm(), Arm()),
        "100 requests per iteration, good candidate",
        traffic=100,
        max_iterations=100,
    ),
    Scenario(
        "canary-dropped-queries",
        "Canary",
        (Arm(), Arm()),
        "a third of metric queries fail, good candidate",
        drop=1 / 3,
    ),
    Scenario(
        "ab-dropped-queries",
        "A/B",
        _ab(0.10, 0.13),
        "a third of metric queries fail, candidate clearly better",
        drop=1 / 3,
    ),
)
