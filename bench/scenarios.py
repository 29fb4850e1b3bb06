"""Experiments with known truth: per version an error probability, a latency distribution and a
conversion rate; the objectives are those of decision-anchors.md (error rate ≤ 1%, p95 latency
≤ 250 ms) plus conversion as the reward in A/B and A/B/N.

Latency is log-normal, or for the heavy-tailed case a mixture with a slow log-normal component;
each distribution is pinned by its true p95 (solved numerically), so "5% over the limit" means
exactly that. Truth follows decision-anchors.md §4: a version is feasible iff its true error
rate and true p95 meet every objective; the correct decision is, for Canary, the candidate if
feasible else the baseline, for A/B(/N) the feasible version with the highest reward, the
baseline unless a candidate is strictly better; for Pareto (several rewards) a feasible
candidate at least as good as the baseline on every reward and strictly better on one.

Rewards: `conversion` (a rate with the request count as its sample size), `engagement` (a gauge
without a sample size, drawn by Iter8 v2's mock semantics from the version's level, as in the
Istio quick start's `user-engagement`) and `signup` (a second rate, for Pareto).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

from iter8.api.defaults import INTERVAL_SECONDS

ERROR_LIMIT = 0.01
P95_LIMIT = 250.0  # ms
# Prometheus-style bucket edges (ms); the limit is an edge, as a user would configure it
EDGES = (0, 10, 25, 50, 75, 100, 125, 150, 175, 200, 225, 250, 275, 300, 350, 400, 500, 750,
         1000, 2500, 5000, 10000)  # fmt: skip
Pattern = Literal["Canary", "A/B", "A/B/N", "Pareto"]
Reward = Literal["conversion", "engagement", "signup"]


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
    engagement: float = 15.0  # the mock level of the engagement gauge (the quick start's v1)
    signup: float = 0.05

    @property
    def feasible(self) -> bool:
        return self.error <= ERROR_LIMIT and self.latency.p95 <= P95_LIMIT

    def reward(self, name: Reward) -> float:
        return float(getattr(self, name))


@dataclass(frozen=True)
class Scenario:
    name: str
    pattern: Pattern
    arms: tuple[Arm, ...]  # baseline first
    description: str
    traffic: int = 2000  # requests per iteration, all versions together
    max_iterations: int = 20
    drop: float = 0.0  # probability that one metric query (one metric, one version) fails
    # a rate and its request count fail independently (each its own query, as in Prometheus);
    # otherwise a rate is lost together with its count, as the first bench did
    independent_loss: bool = False
    lag: int = 0  # every query answers with the cumulative value of `lag` iterations ago
    # the queries do not select the version (no label matcher on `$name`): every version is
    # answered with the totals over all versions
    pooled: bool = False
    # the metrics backend answers bare values (a REST API, an APM's summary): no request count,
    # no sample size, no histogram; each value is judged by its variation across iterations
    bare: bool = False
    rewards: tuple[Reward, ...] = ("conversion",)  # A/B, A/B/N, Pareto; the first is the main one
    interval_seconds: int | None = None  # the experiment's; None: Iter8's default
    no_difference: bool = False  # a null scenario: no candidate is truly better

    @property
    def versions(self) -> list[str]:
        return [f"v{i + 1}" for i in range(len(self.arms))]

    @property
    def correct(self) -> str:
        names, arms = self.versions, self.arms
        if self.pattern == "Canary":
            return names[1] if arms[1].feasible else names[0]
        if self.pattern == "Pareto":
            winners = [i for i in range(1, len(arms)) if arms[i].feasible and self._dominates(i, 0)]
            return names[max(winners, key=lambda i: self._values(i)) if winners else 0]
        best = 0
        for i, arm in enumerate(arms[1:], 1):
            if arm.feasible and self._main(arm) > self._main(arms[best]):
                best = i
        return names[best]

    def inferior(self) -> list[bool]:
        """Per version: violates an SLO, or (A/B) has a lower reward than the correct version,
        or (Pareto) is dominated by it."""
        target = self.versions.index(self.correct)
        if self.pattern == "Pareto":
            return [not a.feasible or self._dominates(target, i) for i, a in enumerate(self.arms)]
        best = self._main(self.arms[target])
        return [
            not a.feasible or (self.pattern != "Canary" and self._main(a) < best) for a in self.arms
        ]

    def bad_promotion(self, version: str) -> bool:
        """Promoting this candidate is a false promotion (decision-anchors.md §4)."""
        index = self.versions.index(version)
        if index == 0:
            return False
        arm = self.arms[index]
        if not arm.feasible:
            return True
        if self.pattern == "Pareto":
            return not self._dominates(index, 0)
        return self.pattern != "Canary" and self._main(arm) <= self._main(self.arms[0])

    @property
    def interval(self) -> int:
        """Seconds per iteration (what a mock gauge's elapsed time counts)."""
        return self.interval_seconds or INTERVAL_SECONDS

    def _main(self, arm: Arm) -> float:
        return arm.reward(self.rewards[0])

    def _values(self, index: int) -> tuple[float, ...]:
        return tuple(self.arms[index].reward(r) for r in self.rewards)

    def _dominates(self, i: int, j: int) -> bool:
        """Version i at least as good as j on every reward (all High) and better on one."""
        mine, theirs = self._values(i), self._values(j)
        return all(a >= b for a, b in zip(mine, theirs, strict=True)) and mine != theirs


def _ab(*conversions: float) -> tuple[Arm, ...]:
    return tuple(Arm(conversion=c) for c in conversions)


def _engagement(*levels: float) -> tuple[Arm, ...]:
    return tuple(Arm(engagement=x) for x in levels)


def fixed_horizon_iterations(scenario: Scenario) -> int:
    """The fixed design: enough requests per version to detect errors of 1.2% against the 1%
    limit (one-sided α = 0.05, power 0.8), at an equal split (decision-anchors.md: 17 at 2,000
    requests per iteration, 652 at 50). With late metrics one more iteration, to see them all."""
    limit, slightly = ERROR_LIMIT, 0.012
    z_alpha, z_beta = norm.ppf(0.95), norm.ppf(0.8)
    per_version = (
        (z_alpha * math.sqrt(limit * (1 - limit)) + z_beta * math.sqrt(slightly * (1 - slightly)))
        / (slightly - limit)
    ) ** 2
    return math.ceil(per_version / (scenario.traffic / len(scenario.arms))) + scenario.lag


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
    # issue 8: the inputs users really have
    Scenario(
        "no-data",
        "Canary",
        (Arm(), Arm(error=0.05)),
        "every metric query fails, every iteration (candidate 5% errors, unseen): keep the baseline",
        drop=1.0,
    ),
    Scenario(
        "canary-count-lost",
        "Canary",
        (Arm(), Arm(error=0.012)),
        "error rate and its request count lost independently (⅓ each), candidate 1.2% errors",
        drop=1 / 3,
        independent_loss=True,
    ),
    # the mock gauge's noise shrinks with the elapsed seconds: 1-second intervals, as in the
    # Knative quick start (levels 15 and more, as the Istio quick start's user-engagement)
    Scenario(
        "gauge-mock-better",
        "A/B",
        _engagement(15.0, 45.0),
        "reward a gauge without sample size (Iter8 v2 mock), candidate 3× better: 45 vs 15",
        rewards=("engagement",),
        interval_seconds=1,
    ),
    Scenario(
        "gauge-mock-equal",
        "A/B",
        _engagement(15.0, 15.0),
        "reward a gauge without sample size (Iter8 v2 mock), 15 vs 15",
        rewards=("engagement",),
        interval_seconds=1,
        no_difference=True,
    ),
    Scenario(
        "gauge-mock-worse",
        "A/B",
        _engagement(15.0, 5.0),
        "reward a gauge without sample size (Iter8 v2 mock), candidate 3× worse: 5 vs 15",
        rewards=("engagement",),
        interval_seconds=1,
    ),
    Scenario(
        "canary-heavy-tail-under",
        "Canary",
        (Arm(latency=HEAVY), Arm(latency=Latency(237.5, 0.35, 0.04, 1.6, 1.0))),
        "heavy-tailed latency, candidate p95 5% under the limit",
    ),
    Scenario(
        "canary-low-traffic-bad",
        "Canary",
        (Arm(), Arm(error=0.05)),
        "50 requests per iteration, candidate 5% errors",
        traffic=50,
        max_iterations=100,
    ),
    Scenario(
        "canary-late-metrics",
        "Canary",
        (Arm(), Arm()),
        "metrics one iteration late (the first iteration has none), good candidate",
        lag=1,
    ),
    Scenario(
        "pareto",
        "Pareto",
        (Arm(conversion=0.10, signup=0.05), Arm(conversion=0.13, signup=0.05)),
        "two rewards: candidate 13% vs 10% conversion, signups equal (5%)",
        rewards=("conversion", "signup"),
    ),
    Scenario(
        "canary-unfiltered-query",
        "Canary",
        (Arm(), Arm(error=0.015)),
        "queries that do not select the version: each is answered the totals over both "
        "(candidate 1.5% errors)",
        pooled=True,
    ),
    Scenario(
        "canary-bare-values",
        "Canary",
        (Arm(), Arm()),
        "a backend of bare values (no request count, no sample size, no histogram), good candidate",
        bare=True,
    ),
    Scenario(
        "canary-unfiltered-values",
        "Canary",
        (Arm(), Arm(error=0.015)),
        "bare values from queries that do not select the version: each is answered the totals "
        "(candidate 1.5% errors)",
        bare=True,
        pooled=True,
    ),
    Scenario(
        "canary-bare-errors-slight",
        "Canary",
        (Arm(), Arm(error=0.012)),
        "a backend of bare values, candidate 1.2% errors (limit 1%)",
        bare=True,
    ),
)
