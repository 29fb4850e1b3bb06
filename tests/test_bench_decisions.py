"""The decision benchmark: its truth, its baselines, and a smoke run of the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.baselines.fixed_horizon import FixedHorizon
from bench.baselines.flagger import Flagger
from bench.decisions import applies, tasks
from bench.run import run
from bench.scenarios import P95_LIMIT, SCENARIOS, Latency, fixed_horizon_iterations
from bench.world import World, p95_of
from iter8.cli.bench import bench


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


def test_bench_analyze_smoke() -> None:
    result = CliRunner().invoke(bench, ["analyze", "--calls", "5", "--algorithm", "bayesian"])
    assert result.exit_code == 0, result.output
    assert "10 versions × 10 metrics" in result.output


def test_bench_is_a_subcommand_of_iter8() -> None:
    import click

    from iter8.cli.main import cli

    command = cli.get_command(click.Context(cli), "bench")
    assert command is not None and command.name == "bench"
