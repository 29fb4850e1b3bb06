"""Decisions under continuous monitoring, over many seeded sequential experiments.

Each experiment looks every iteration (the analyze function's cadence). The simulator is the
benchmark's (aggregated counts per iteration, known truth), so what is tested is the algorithm
exactly as the product runs it: status in, status out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from bench.adapter import AlgorithmPolicy
from bench.policy import Step
from bench.run import Record, run
from bench.scenarios import SCENARIOS, Scenario
from bench.world import Snapshot
from iter8.analytics.algorithms.bayesian import ALGORITHM, Bayesian
from iter8.analytics.bayes.settings import Settings

ALPHA = 0.05


def scenario(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


def experiments(name: str, runs: int, first_seed: int = 0) -> list[Record]:
    chosen = scenario(name)
    return [
        run(chosen, lambda seed: AlgorithmPolicy(ALGORITHM, chosen, seed), seed)
        for seed in range(first_seed, first_seed + runs)
    ]


def share(records: Sequence[Record], what: str) -> float:
    return float(np.mean([getattr(r, what) for r in records]))


class PeekingPBest(AlgorithmPolicy):
    """The rule the brief warns about: stop as soon as P(best) ≥ 0.95 (GrowthBook's usual chance
    to win), looking every iteration (the bandit's own P(best), so only the stopping rule
    differs; peers.md §6.2c: ~69% false winners with peeking)."""

    def step(self, iteration: int, snapshot: Snapshot) -> Step:
        step = super().step(iteration, snapshot)
        assert self.last is not None
        best = self.last.details["pBest"]
        leader = max(best, key=lambda v: best[v] or 0.0)  # None: no evidence yet
        if leader != self.names[0] and best[leader] >= 0.95:
            return Step("promote", step.weights, leader)
        return Step("continue" if step.action == "promote" else step.action, step.weights)


def test_no_real_difference_promotes_at_most_alpha_with_peeking_every_iteration() -> None:
    records = experiments("ab-no-difference", 200)
    assert share(records, "false_promotion") <= ALPHA


def test_the_same_test_catches_a_peeking_chance_to_win_rule() -> None:
    """The test above can fail: P(best) ≥ 0.95 with peeking promotes far more than α."""
    chosen = scenario("ab-no-difference")
    records = [
        run(chosen, lambda seed: PeekingPBest(ALGORITHM, chosen, seed), seed) for seed in range(200)
    ]
    assert share(records, "false_promotion") > ALPHA


def test_identical_canary_is_promoted_and_never_a_violating_one() -> None:
    records = experiments("canary-identical", 100, first_seed=1000)
    assert share(records, "correct") >= 0.95
    assert share(records, "false_promotion") == 0.0


def test_clearly_better_candidate_is_promoted() -> None:
    records = experiments("ab-clearly-better", 100, first_seed=2000)
    assert share(records, "correct") >= 0.95
    assert float(np.median([r.iterations for r in records])) <= 8  # fixed horizon: 17


def test_candidate_clearly_violating_an_slo_is_rolled_back_quickly() -> None:
    records = experiments("canary-errors-high", 100, first_seed=3000)
    assert all(r.action == "rollback" for r in records)
    assert float(np.median([r.iterations for r in records])) <= 2
    assert share(records, "slo_violating_requests") < 600  # Flagger's rule serves ~1,000


def test_slightly_violating_candidate_is_never_promoted_and_given_up_early() -> None:
    """1.2% errors against 1%: no proof either way is in reach, and a likely-failing candidate
    that cannot be proven at its share is given up (`objectives.stalled`), keeping the
    baseline; it ran to the horizon (20 iterations) before."""
    records = experiments("canary-errors-slight", 100, first_seed=4000)
    assert share(records, "false_promotion") <= 0.01
    assert share(records, "correct") >= 0.95
    assert float(np.median([r.iterations for r in records])) <= 10


@pytest.mark.slow
@pytest.mark.parametrize("name", ["canary-heavy-tail", "abn-4-versions", "ab-worse"])
def test_no_false_promotions_elsewhere(name: str) -> None:
    records = experiments(name, 200, first_seed=5000)
    assert share(records, "false_promotion") <= 0.01


@pytest.mark.slow
def test_canary_no_difference_false_promotions_and_misses() -> None:
    records = experiments("canary-dropped-queries", 200, first_seed=6000)
    assert share(records, "false_promotion") == 0.0
    assert share(records, "correct") >= 0.9  # unknown data is not counted as failure


def rolled_back_wrongly(records: Sequence[Record]) -> float:
    """Share of runs that rolled back (or eliminated into a rollback) a compliant candidate."""
    return float(np.mean([r.action == "rollback" for r in records]))


@pytest.mark.slow
def test_compliant_heavy_tailed_candidate_is_rarely_rolled_back() -> None:
    """p95 5% under its limit (4.4% of requests beyond it, against 5%): a rollback must be a
    proof of harm at α, so ≤ 5% of runs (posterior futility rolled back ~60%)."""
    records = experiments("canary-heavy-tail-under", 300, first_seed=7000)
    assert rolled_back_wrongly(records) + given_up_early(records, 20) <= ALPHA
    assert share(records, "correct") >= 0.9


def test_bad_candidate_at_low_traffic_is_rolled_back_within_ten_iterations() -> None:
    """50 requests per iteration, 5% errors: the floor in requests keeps enough traffic on the
    candidate to prove its harm (a fixed 2% floor took a median of 76 iterations)."""
    records = experiments("canary-low-traffic-bad", 60, first_seed=8000)
    assert share(records, "false_promotion") == 0.0
    assert all(r.action == "rollback" for r in records)
    assert float(np.median([r.iterations for r in records])) <= 10


@pytest.mark.slow
def test_pareto_candidate_dominating_the_baseline_is_promoted() -> None:
    records = experiments("pareto", 60, first_seed=9000)
    assert share(records, "false_promotion") == 0.0
    assert share(records, "correct") >= 0.9


def test_a_likely_failing_candidate_is_kept_at_its_floor() -> None:
    """A canary with 1.2% errors (limit 1%) is rarely proven harmful within the horizon; on its
    Thompson share it kept ~15% of the traffic for 20 iterations. Kept at its floor once it is
    likely failing with evidence leaning to harm, it gets far less, over many seeded runs."""
    chosen = scenario("canary-errors-slight")

    def violating(settings: Settings) -> float:
        algorithm = Bayesian(settings)
        records = [
            run(chosen, lambda seed: AlgorithmPolicy(algorithm, chosen, seed), seed)
            for seed in range(30)
        ]
        return share(records, "slo_violating_requests")

    assert violating(Settings(hold_likely_failing=True)) <= 0.8 * violating(
        Settings(likely_failing=0.0)
    )


def given_up_early(records: Sequence[Record], horizon: int) -> float:
    """Share of runs that kept the baseline before the horizon without proven harm: futility
    (`sequential.futile`) ends as no-winner."""
    return float(np.mean([r.action == "no-winner" and r.iterations < horizon for r in records]))


@pytest.mark.slow
def test_futility_ends_an_ab_without_difference_early_keeping_the_baseline() -> None:
    """Without futility every such run went to the horizon (20 iterations)."""
    records = experiments("ab-no-difference", 150, first_seed=8000)
    assert share(records, "false_promotion") <= ALPHA
    assert given_up_early(records, 20) >= 0.4
    assert float(np.median([r.iterations for r in records])) < 20


@pytest.mark.slow
def test_futility_rarely_gives_up_a_better_candidate() -> None:
    """A 10% lift, about the effect the horizon boundary proves with 80% power: given up by
    futility in at most β (5%) of runs, plus Monte Carlo slack."""
    records = experiments("ab-slightly-better", 150, first_seed=9000)
    assert given_up_early(records, 20) <= 0.05 + 0.03
