"""The decision benchmark: its truth, its baselines, and a smoke run of the command."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from bench.adapter import experiment_for
from bench.baselines.fixed_horizon import FixedHorizon
from bench.baselines.flagger import Flagger
from bench.decisions import applies, policy_factory, tasks
from bench.policy import Step
from bench.run import Record, run
from bench.scenarios import P95_LIMIT, SCENARIOS, Latency, fixed_horizon_iterations
from bench.summary import Cell, markdown, merged, summarize, targets, to_json
from bench.world import (
    ENGAGEMENT,
    ERRORS,
    REQUESTS,
    Snapshot,
    World,
    metric_definitions,
    observations,
    p95_of,
)
from iter8.api.experiment import VersionDetail
from iter8.cli.bench import bench
from iter8.metrics.provider import FetchRequest
from iter8.metrics.providers.mock import PROVIDER as MOCK


def scenario(name: str):  # type: ignore[no-untyped-def]
    return next(s for s in SCENARIOS if s.name == name)


def test_latency_models_hit_their_p95() -> None:
    for model in (Latency(180.0), Latency(262.5, 0.35, 0.04, 1.6, 1.0)):
        assert float(model.cdf(model.p95, model.mu)) == pytest.approx(0.95, abs=1e-9)
        assert model.bucket_probabilities.sum() == pytest.approx(1.0)


def test_truth_of_each_scenario() -> None:
    assert scenario("canary-identical").correct == "v2"
    assert scenario("canary-errors-slight").correct == "v1"
    assert scenario("canary-heavy-tail").correct == "v1"
    assert scenario("canary-heavy-tail").arms[1].latency.p95 > P95_LIMIT
    assert scenario("ab-no-difference").correct == "v1"
    assert scenario("ab-no-difference").bad_promotion("v2")
    assert scenario("abn-4-versions").correct == "v3"
    assert scenario("abn-4-versions").inferior() == [True, True, False, True]


def test_fixed_horizon_design_matches_the_anchors() -> None:
    """decision-anchors.md: 17 iterations at 2,000 requests (652 at 50; here 100 → 326)."""
    assert fixed_horizon_iterations(scenario("canary-identical")) == 17
    assert fixed_horizon_iterations(scenario("canary-low-traffic")) == 326


def test_world_counts_add_up() -> None:
    world = World(scenario("ab-clearly-better"), np.random.default_rng(0))
    served = world.serve([70, 30])
    assert served.sum() == 2000
    assert world.histograms.sum(axis=1).tolist() == world.requests.tolist()
    snapshot = world.snapshot()
    assert snapshot.requests == world.requests.tolist()
    assert abs(p95_of(world.histograms[0]) - 180) < 30


def test_dropped_queries_are_dropped_at_the_stated_rate() -> None:
    world = World(scenario("canary-dropped-queries"), np.random.default_rng(1))
    world.serve([50, 50])
    lost = [v is None for _ in range(300) for v in world.snapshot().requests]
    assert 0.28 < np.mean(lost) < 0.39


def test_flagger_promotes_a_passing_canary_after_five_checks() -> None:
    chosen = scenario("canary-identical")
    record = run(chosen, lambda seed: Flagger(chosen), 0)
    assert (record.action, record.chosen, record.iterations) == ("promote", "v2", 5)


def test_flagger_rolls_back_after_five_failed_checks() -> None:
    chosen = scenario("canary-errors-high")
    record = run(chosen, lambda seed: Flagger(chosen), 0)
    assert (record.action, record.iterations) == ("rollback", 5)


def test_flagger_has_no_reward_so_it_promotes_a_worse_candidate() -> None:
    chosen = scenario("ab-worse")
    assert run(chosen, lambda seed: Flagger(chosen), 0).false_promotion


def test_fixed_horizon_decides_at_its_horizon() -> None:
    chosen = scenario("canary-errors-high")
    record = run(chosen, lambda seed: FixedHorizon(chosen), 0)
    assert (record.action, record.iterations, record.correct) == ("rollback", 17, True)


def test_flagger_does_not_apply_to_abn_and_tasks_cover_every_run() -> None:
    abn = scenario("abn-4-versions")
    assert not applies("flagger", abn)
    work = tasks(["bayesian", "flagger"], [abn, scenario("ab-worse")], 300, 1)
    runs = {(t.algorithm, t.scenario): 0 for t in work}
    for t in work:
        runs[(t.algorithm, t.scenario)] += len(t.seeds)
    assert runs == {
        ("bayesian", "abn-4-versions"): 300,
        ("bayesian", "ab-worse"): 300,
        ("flagger", "ab-worse"): 300,
    }


def test_bench_decisions_smoke(tmp_path: Path) -> None:
    output = tmp_path / "decisions.json"
    arguments = ["decisions", "--runs", "20", "--workers", "2", "--output", str(output)]
    for name in ("canary-errors-high", "ab-worse", "abn-4-versions"):
        arguments += ["--scenario", name]
    result = CliRunner().invoke(bench, arguments)
    assert result.exit_code == 0, result.output
    assert "Decisions (20 runs per cell)" in result.output
    assert "Targets (bayesian)" in result.output
    data = json.loads(output.read_text())
    cells = {(c["algorithm"], c["scenario"]): c for c in data["cells"]}
    assert cells[("bayesian", "canary-errors-high")]["runs"] == 20
    assert ("flagger", "abn-4-versions") not in cells
    assert {"date", "nproc", "machine", "python"} <= set(data)


def test_bench_decisions_reports_a_refused_or_inapplicable_scenario_as_na(tmp_path: Path) -> None:
    output, table = tmp_path / "decisions.json", tmp_path / "decisions.md"
    arguments = ["decisions", "--runs", "4", "--workers", "1", "--output", str(output)]
    arguments += ["--markdown", str(table), "--scenario", "pareto", "--scenario", "no-data"]
    result = CliRunner().invoke(bench, arguments)
    assert result.exit_code == 0, result.output
    cells = {(c["algorithm"], c["scenario"]) for c in json.loads(output.read_text())["cells"]}
    assert ("fixed-horizon", "pareto") in cells and ("bayesian", "no-data") in cells
    assert ("flagger", "pareto") not in cells and ("iter8-v2", "pareto") not in cells
    assert (("bayesian", "pareto") in cells) == applies("bayesian", scenario("pareto"))
    assert "| pareto | bayesian |" in table.read_text()
    assert "runs moving traffic toward a candidate without data" in table.read_text()


def test_bench_analyze_smoke() -> None:
    result = CliRunner().invoke(bench, ["analyze", "--calls", "5", "--algorithm", "bayesian"])
    assert result.exit_code == 0, result.output
    assert "10 versions × 10 metrics" in result.output


def test_bench_is_a_subcommand_of_iter8() -> None:
    import click

    from iter8.cli.main import cli

    command = cli.get_command(click.Context(cli), "bench")
    assert command is not None and command.name == "bench"


# issue 8: the inputs users really have


def observed(world: World) -> dict:  # type: ignore[type-arg]
    return observations(world.snapshot(), world.scenario.versions)


def test_truth_of_the_issue_8_scenarios() -> None:
    assert scenario("no-data").correct == "v1"
    assert scenario("no-data").bad_promotion("v2")
    assert scenario("canary-count-lost").correct == "v1"
    assert [scenario(f"gauge-mock-{k}").correct for k in ("better", "equal", "worse")] == [
        "v2",
        "v1",
        "v1",
    ]
    assert scenario("gauge-mock-equal").no_difference
    assert scenario("gauge-mock-better").inferior() == [True, False]
    assert scenario("canary-heavy-tail-under").correct == "v2"
    assert scenario("canary-heavy-tail-under").arms[1].latency.p95 == pytest.approx(0.95 * 250)
    assert scenario("canary-low-traffic-bad").correct == "v1"
    assert scenario("canary-late-metrics").correct == "v2"
    pareto = scenario("pareto")
    assert (pareto.correct, pareto.inferior()) == ("v2", [True, False])
    worse_signups = replace(pareto, arms=(pareto.arms[0], replace(pareto.arms[1], signup=0.04)))
    assert worse_signups.correct == "v1" and worse_signups.bad_promotion("v2")
    assert fixed_horizon_iterations(scenario("canary-low-traffic-bad")) == 652  # the anchors'
    assert fixed_horizon_iterations(scenario("canary-late-metrics")) == 18  # 17 + 1 late


def test_no_data_answers_nothing_ever() -> None:
    world = World(scenario("no-data"), np.random.default_rng(2))
    for _ in range(5):
        world.serve([50, 50])
        snapshot = world.snapshot()
        assert not snapshot.has_data(0) and not snapshot.has_data(1)
        outcomes = {o.outcome for answers in observed(world).values() for o in answers.values()}
        assert outcomes == {"error"}


def count_and_rate(name: str, draws: int = 600) -> tuple[float, float]:
    """Shares of (version, iteration) pairs whose count query failed, and of those whose error
    rate answered while its count failed."""
    world = World(scenario(name), np.random.default_rng(3))
    world.serve([50, 50])
    lost, bare = [], []
    for _ in range(draws):
        answers = observed(world)
        for version in ("v1", "v2"):
            count_lost = answers[REQUESTS][version].outcome == "error"
            lost.append(count_lost)
            bare.append(count_lost and answers[ERRORS][version].outcome == "ok")
    return float(np.mean(lost)), float(np.mean(bare))


def test_independent_loss_gives_rates_without_their_counts() -> None:
    lost, bare = count_and_rate("canary-count-lost")
    assert 0.30 < lost < 0.37  # ⅓ of count queries fail ...
    assert 0.19 < bare < 0.26  # ... and the rate answers in ⅔ of those: 2/9
    lost, bare = count_and_rate("canary-dropped-queries")  # the older switch: lost together
    assert 0.30 < lost < 0.37 and bare == 0.0


def test_a_bare_rate_is_the_backends_own_ratio() -> None:
    world = World(scenario("canary-count-lost"), np.random.default_rng(4))
    world.serve([50, 50])
    world.serve([50, 50])
    for _ in range(50):
        answers = observed(world)
        for i, version in enumerate(("v1", "v2")):
            if answers[ERRORS][version].outcome == "ok":
                rate = answers[ERRORS][version].value
                assert rate == pytest.approx(world.errors[i] / world.requests[i])


def test_late_metrics_lag_by_exactly_one_iteration() -> None:
    late, now = (World(scenario(n), np.random.default_rng(5)) for n in
                 ("canary-late-metrics", "canary-identical"))  # fmt: skip
    world = late
    world.serve([90, 10])
    first = world.snapshot()
    assert first.empty and not first.has_data(0) and not first.has_data(1)
    assert {o.outcome for a in observations(first, ["v1", "v2"]).values() for o in a.values()} == {
        "no-data"
    }
    now.serve([90, 10])
    for weights in ([80, 20], [70, 30], [60, 40]):
        before = now.snapshot()  # the on-time world one iteration earlier (same draws)
        late.serve(weights)
        now.serve(weights)
        lagged = late.snapshot()
        assert lagged.requests == before.requests and lagged.errors == before.errors
        assert all(
            np.array_equal(a, b) for a, b in zip(lagged.histograms, before.histograms, strict=True)
        )
        assert lagged.requests != now.snapshot().requests


def test_mock_gauge_follows_the_iter8_v2_mock_provider() -> None:
    """2x·Beta(t, t), t the elapsed seconds: checked against the formula (KS test) and against
    the provider itself on the same random stream."""
    chosen = scenario("gauge-mock-better")
    world = World(chosen, np.random.default_rng(6))
    for _ in range(3):
        world.serve([50, 50])
    t = 3 * chosen.interval
    values = np.array([observed(world)[ENGAGEMENT]["v2"].value for _ in range(2000)])
    level = chosen.arms[1].engagement
    assert stats.kstest(values, stats.beta(t, t, scale=2 * level).cdf).pvalue > 0.01
    assert values.var() == pytest.approx(level**2 / (2 * t + 1), rel=0.15)
    metric = metric_definitions(chosen)[ENGAGEMENT]
    assert metric.spec.sample_size is None
    rng = np.random.default_rng(7)
    world.rng = np.random.default_rng(7)
    direct = [
        MOCK.fetch(FetchRequest(metric, VersionDetail(name=v), elapsed_seconds=t, rng=rng)).value
        for v in ("v1", "v2")
    ]
    assert world.snapshot().engagement == direct


def test_the_mock_gauge_is_what_the_algorithm_is_asked_to_reward() -> None:
    experiment = experiment_for(scenario("gauge-mock-equal"))
    assert experiment.spec.criteria is not None and experiment.spec.criteria.rewards is not None
    assert [r.metric for r in experiment.spec.criteria.rewards] == [ENGAGEMENT]


class BlindRamp:
    """A rule that moves 10 points to the candidate every iteration, whatever it sees."""

    def __init__(self) -> None:
        self.weight = 10

    def start(self) -> list[int]:
        return [100 - self.weight, self.weight]

    def step(self, iteration: int, snapshot: Snapshot) -> Step:
        self.weight = min(100, self.weight + 10)
        return Step("continue", self.start())


def test_moving_toward_a_candidate_without_data_is_caught() -> None:
    for chosen in (scenario("no-data"), scenario("canary-late-metrics")):
        assert run(chosen, lambda seed: BlindRamp(), 0).moved_without_data
        assert not run(chosen, lambda seed, s=chosen: Flagger(s), 0).moved_without_data
    assert not run(scenario("canary-identical"), lambda seed: BlindRamp(), 0).moved_without_data


ISSUE_8 = ("no-data", "canary-count-lost", "gauge-mock-better", "gauge-mock-equal",
           "gauge-mock-worse", "canary-heavy-tail-under", "canary-low-traffic-bad",
           "canary-late-metrics", "pareto")  # fmt: skip


@pytest.mark.parametrize("name", ISSUE_8)
def test_issue_8_scenarios_run_for_every_algorithm_that_applies(name: str) -> None:
    chosen = scenario(name)
    ran = [a for a in ("bayesian", "iter8-v2", "flagger", "fixed-horizon") if applies(a, chosen)]
    assert "flagger" not in ran or chosen.pattern != "Pareto"
    assert "iter8-v2" not in ran or chosen.pattern != "Pareto"
    for algorithm in ran:
        records = [run(chosen, policy_factory(algorithm, chosen), seed) for seed in range(3)]
        assert all(r.iterations >= 1 and r.requests > 0 for r in records)


def test_baselines_on_the_new_inputs() -> None:
    blind = scenario("no-data")
    record = run(blind, lambda seed: Flagger(blind), 0)
    assert (record.action, record.iterations, record.correct) == ("rollback", 5, True)
    pareto = scenario("pareto")
    records = [run(pareto, lambda seed: FixedHorizon(pareto), seed) for seed in range(5)]
    assert all(r.action == "promote" and r.chosen == "v2" for r in records)
    late = scenario("canary-late-metrics")
    assert run(late, lambda seed: FixedHorizon(late), 0).iterations == 18
    assert not applies("fixed-horizon", scenario("gauge-mock-better"))  # a bare gauge: no test


def record(action: str, iterations: int, **truth: bool) -> Record:
    fields = {"correct": False, "false_promotion": False, "missed_promotion": False} | truth
    return Record(action, "v1", iterations, requests=100.0, inferior_requests=0.0,
                  slo_violating_requests=0.0, **fields)  # fmt: skip


def test_rollback_figures() -> None:
    half = [record("rollback", 4, correct=True)] * 2 + [record("no-winner", 20)] * 2
    assert summarize(half).median_iterations_to_rollback is None  # half never rolled back
    most = [record("rollback", i, correct=True) for i in (3, 5, 7)] + [record("no-winner", 20)]
    assert summarize(most).median_iterations_to_rollback == 7
    wrong = [record("rollback", 2, missed_promotion=True), record("promote", 4, correct=True)]
    assert summarize(wrong).wrongful_rollback_pct == 50.0


def cell(**figures: float) -> Cell:
    good = {"runs": 1000, "false_promotion_pct": 0.0, "correct_pct": 100.0,
            "missed_promotion_pct": 0.0, "no_winner_pct": 0.0, "median_iterations": 4.0,
            "p90_iterations": 6.0, "median_iterations_correct": 4.0,
            "inferior_traffic_pct": 1.0, "inferior_requests": 100.0,
            "slo_violating_requests": 0.0, "median_iterations_to_rollback": 3.0}  # fmt: skip
    return Cell(**(good | figures))  # type: ignore[arg-type]


def test_targets_say_met_and_missed_from_the_results() -> None:
    chosen = [scenario(n) for n in ("canary-errors-slight", "no-data", "canary-low-traffic-bad",
                                    "ab-slightly-better", "pareto")]  # fmt: skip
    good = {("bayesian", s.name): cell() for s in chosen[:4]}
    good |= {("iter8-v2", s.name): cell(inferior_requests=1000.0) for s in chosen[:4]}
    good |= {("fixed-horizon", s.name): cell(median_iterations=17.0) for s in chosen[:4]}
    met = {t.name: t.met for t in targets(good, chosen)}
    assert met["correct decisions: pareto"] is None  # bayesian did not run it: n/a
    assert all(v for k, v in met.items() if k != "correct decisions: pareto"), met
    bad = good | {
        ("bayesian", "canary-errors-slight"): cell(false_promotion_pct=7.3, correct_pct=92.7),
        ("bayesian", "no-data"): cell(moved_without_data_pct=100.0),
        ("bayesian", "canary-low-traffic-bad"): cell(median_iterations_to_rollback=76.0),
        ("bayesian", "ab-slightly-better"): cell(correct_pct=57.7, median_iterations=10.0),
        ("iter8-v2", "no-data"): cell(inferior_requests=0.0),
    }
    found = {t.name: t for t in targets(bad, chosen)}
    missed = {name for name, t in found.items() if t.met is False}
    assert missed == {
        "false promotions, a worse or SLO-violating candidate",
        "runs moving traffic toward a candidate without data",
        "correct decisions: canary-errors-slight",
        "correct decisions: ab-slightly-better",
        "median iterations to roll back: canary-low-traffic-bad",
        "median iterations vs the fixed horizon",
    }
    assert (
        "canary-errors-slight 7.3%"
        in found["false promotions, a worse or SLO-violating candidate"].measured
    )
    document = to_json(bad, chosen, list(found.values()), {})
    assert "| **no** |" in markdown(document) and "| n/a |" in markdown(document)


def test_a_bayesian_only_run_is_completed_with_the_anchors_of_the_same_seeds() -> None:
    """`bench.summary.merged`: the anchors' cells come from the earlier document, the targets
    are recomputed from the merged cells, and documents of other seeds are refused."""
    earlier = json.loads(Path("bench/results/decisions-issue8-round3.json").read_text())
    fresh = {**earlier, "cells": [c for c in earlier["cells"] if c["algorithm"] == "bayesian"]}
    document = merged(fresh, earlier)
    assert len(document["cells"]) == len(earlier["cells"])
    assert document["targets"] == earlier["targets"]
    assert document["reused"] == ["fixed-horizon", "flagger", "iter8-v2"]
    with pytest.raises(ValueError, match="seed"):
        merged({**fresh, "seed": 2}, earlier)


def test_annotations_reach_the_algorithm_as_a_users_would() -> None:
    """`--annotate` sets an algorithm's settings on every simulated Experiment: a canary that
    may ride the cap only when certain (canary_ride 1) serves the slightly failing candidate
    fewer requests over the same seeds; Flagger's rule has no settings and is the same."""
    chosen = scenario("canary-errors-slight")
    strict = (("iter8.tools/bayesian.canary_ride", "1"),)
    assert experiment_for(chosen, dict(strict)).metadata.annotations == dict(strict)

    def served(algorithm: str, annotations: tuple[tuple[str, str], ...]) -> float:
        make = policy_factory(algorithm, chosen, annotations)
        return sum(run(chosen, make, seed).inferior_requests for seed in range(12))

    assert served("bayesian", strict) < served("bayesian", ())
    assert served("flagger", strict) == served("flagger", ())
    [task] = tasks(["bayesian"], [chosen], 3, 1, strict)
    assert task.annotations == strict


def test_a_malformed_annotation_is_a_usage_error() -> None:
    result = CliRunner().invoke(bench, ["decisions", "--runs", "1", "--annotate", "alpha"])
    assert result.exit_code == 2
    assert "'alpha' is not KEY=VALUE" in result.output
