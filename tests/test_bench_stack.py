"""The stack benchmark: its no-missed/no-doubled checker, and a tiny run of the whole command."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bench import stack, stack_inprocess, stack_load, stack_tick
from bench.stack_load import Write, check
from iter8.cli.bench import bench

T0 = "2026-01-01T00:00:0{}.000000Z"


def status(completed: int, analysed: int | None = None, claim: int | None = None) -> dict[str, Any]:
    """A status as the functions write it: iteration `claim` claimed by analyze at T0+claim s."""
    body: dict[str, Any] = {
        "stage": "Running",
        "completedIterations": completed,
        "lastUpdateTime": T0.format(completed),
    }
    if analysed is not None:
        body["analysis"] = {"iteration": analysed}
    if claim is not None:
        body["inProgress"] = {
            "phase": "analyze",
            "by": "analyze",
            "iteration": claim,
            "since": T0.format(claim).replace(".000000", ".250000"),
        }
    return body


def history(iterations: int) -> list[Write]:
    """A clean run: claim, analyse, route each iteration; the last one concludes."""
    writes = [Write("exp-0", 1, status(0))]
    for n in range(1, iterations + 1):
        writes.append(Write("exp-0", 0, status(n - 1, n - 1 or None, claim=n)))
        writes.append(Write("exp-0", 0, status(n - 1, n)))
        if n < iterations:
            writes.append(Write("exp-0", 0, status(n, n)))
    return writes


def final(iterations: int) -> dict[str, Any]:
    return {
        "stage": "Completed",
        "completedIterations": iterations,
        "analysis": {"iteration": iterations},
        "conditions": [{"type": "Failed", "status": "False"}],
    }


def events(iterations: int, **extra: int) -> Counter[tuple[str, str, int]]:
    counts = Counter({("default/exp-0", "weights.applied", n): 1 for n in range(1, iterations)})
    counts[("default/exp-0", "experiment.promoted", iterations)] = 1
    for key, count in extra.items():
        counts[("default/exp-0", "weights.applied", int(key.removeprefix("n")))] += count
    return counts


def test_a_clean_run_passes_and_its_lags_are_measured() -> None:
    result = check("exp-0", 3, history(3), final(3), events(3))
    assert result.problems == []
    # iteration n ≥ 2 was due at T0 + (n-1) + 1 s and claimed at T0 + n + 0.25 s
    assert result.lags == pytest.approx([0.25, 0.25])
    assert result.first == pytest.approx(1.25)  # claimed T0 + 1.25 s, initialised at T0


def test_a_doubled_or_missed_iteration_is_caught() -> None:
    doubled = history(3)
    doubled.insert(3, Write("exp-0", 0, status(0, 1, claim=1) | {"inProgress": {
        "phase": "analyze", "by": "analyze", "iteration": 1, "since": T0.format(5)}}))  # fmt: skip
    problems = check("exp-0", 3, doubled, final(3), events(3)).problems
    assert "iteration 1 claimed 2 times" in problems

    skipped = [w for w in history(3) if w.status["completedIterations"] != 1]
    problems = check("exp-0", 3, skipped, final(3), events(3)).problems
    assert any("completedIterations went [0, 2]" in p for p in problems)

    problems = check("exp-0", 3, history(3), final(3), events(3, n1=1)).problems
    assert problems == ["iteration 1: 2 weights.applied events"]


def test_in_process_iterations() -> None:
    result = stack_inprocess.measure(4)
    assert len(result.overhead) == 4
    assert all(seconds > 0 for seconds in result.overhead)
    assert len(result.parts["fetch"]) == 4


def test_a_tiny_run_of_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "stack.json"
    argv = ["--runs", "1", "--inprocess-iterations", "3", "--http-iterations", "3"]
    argv += ["--experiments", "5", "--iterations", "2", "--output", str(output)]
    argv += ["--markdown", str(tmp_path / "stack.md")]
    assert stack.main(argv) == 0
    printed = capsys.readouterr().out
    for title in ("One iteration", "Experiments at once", "Targets (issue 4)"):
        assert title in printed
    figures = json.loads(output.read_text())
    (load,) = figures["load"]
    assert load["problems"] == []
    assert load["completed"] == 5
    assert load["lag_s"]["n"] == 5  # iteration 2 of each: the only tick-driven one
    assert figures["overhead"]["median_of_runs"]["http"]["total"]["n"] == 3
    tables = (tmp_path / "stack.md").read_text()
    assert sum(line.startswith("|---") for line in tables.splitlines()) == 3
    assert "| missed or doubled | none |" in tables


def test_iter8_bench_stack_shows_the_options() -> None:
    result = CliRunner().invoke(bench, ["stack", "--help"])
    assert result.exit_code == 0
    assert "--experiments" in result.output


def test_the_load_run_reports_every_experiment(tmp_path: Path) -> None:
    result = stack_load.run(2, 2, directory=tmp_path)
    assert [c.name for c in result.checks] == ["exp-0", "exp-1"]
    assert result.problems == []


def test_the_tick_bench_drives_the_store_it_asks_for() -> None:
    cost = stack_tick.measure(4, 2, "iter8-v2", completed=2, ticks=2)
    assert (cost.experiments, cost.completed) == (4, 2)
    assert len(cost.unchanged_ms) == len(cost.changed_ms) == 2
    assert all(ms > 0 for ms in cost.changed_ms)
