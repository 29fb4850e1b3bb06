"""`iter8 bench …`: the benchmarks in `bench/` (decision quality, cost of one analysis step).

The shell only: options, progress, tables, JSON files. The simulator and the baselines live in
the `bench` package at the repository root (importable from a source checkout).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table


@click.group()
def bench() -> None:
    """Benchmarks: decision quality against other tools, and the cost of one analysis."""


@bench.command()
@click.option(
    "--runs", default=1000, show_default=True, help="Seeded runs per algorithm × scenario."
)
@click.option(
    "--seed", default=1, show_default=True, help="Base seed; the same seed, the same numbers."
)
@click.option("--workers", default=2, show_default=True, help="Processes.")
@click.option("--scenario", "scenarios", multiple=True, help="Only these scenarios (repeatable).")
@click.option(
    "--algorithm", "algorithms", multiple=True, help="Only these algorithms (repeatable)."
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the figures as JSON here.",
)
@click.option(
    "--markdown",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the tables as Markdown here.",
)
@click.option(
    "--annotate",
    "annotations",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set this annotation on every simulated Experiment, as a user would: an Iter8 "
    "algorithm's settings (e.g. iter8.tools/bayesian.alpha=0.01). Repeatable.",
)
def decisions(
    runs: int,
    seed: int,
    workers: int,
    scenarios: tuple[str, ...],
    algorithms: tuple[str, ...],
    output: str | None,
    markdown: str | None,
    annotations: tuple[str, ...],
) -> None:
    """Simulate experiments with known truth; compare every algorithm's decisions."""
    from bench.decisions import ALGORITHMS, available, run_all, tasks
    from bench.scenarios import SCENARIOS
    from bench.summary import markdown as to_markdown
    from bench.summary import summarize, targets, to_json

    chosen = [s for s in SCENARIOS if not scenarios or s.name in scenarios]
    unknown = set(scenarios) - {s.name for s in chosen}
    if unknown or not chosen:
        names = ", ".join(s.name for s in SCENARIOS)
        raise click.BadParameter(f"unknown scenario(s) {sorted(unknown)}; known: {names}")
    wanted, missing = available(algorithms or ALGORITHMS)
    console = _console()
    for name in missing:
        console.print(f"[yellow]{name}: not available in this build, its column stays empty[/]")
    annotated = _annotations(annotations)
    work = tasks(wanted, chosen, runs, seed, annotated)
    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task("simulating", total=len(work))
        results = run_all(work, workers, lambda _: progress.advance(bar))
    elapsed = time.perf_counter() - started
    cells = {key: summarize(records) for key, records in results.items()}
    found = targets(cells, chosen)
    console.print(_decision_table(cells, chosen, wanted, runs))
    console.print(_target_table(found))
    console.print(f"{runs} runs per cell, seed {seed}, {workers} workers, {elapsed:.0f} s")
    for key, value in annotated:
        console.print(f"annotation {key}={value} on every Experiment")
    meta: dict[str, Any] = {
        "runs": runs,
        "seed": seed,
        "workers": workers,
        "seconds": round(elapsed, 1),
    }
    if annotated:
        meta["annotations"] = dict(annotated)
    document = to_json(cells, chosen, found, {**meta, **_machine()})
    for path, text in (
        (output, json.dumps(document, indent=1) + "\n"),
        (markdown, to_markdown(document)),
    ):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)


def _annotations(given: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """`KEY=VALUE` pairs, in order; a malformed one is a usage error naming it."""
    pairs = []
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--annotate")
        pairs.append((key.strip(), value))
    return tuple(pairs)


@bench.command()
@click.option("--calls", default=300, show_default=True, help="Timed calls per algorithm × shape.")
@click.option(
    "--algorithm", "algorithms", multiple=True, help="Only these algorithms (default: every one)."
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the timings as JSON here.",
)
def analyze(calls: int, algorithms: tuple[str, ...], output: str | None) -> None:
    """Time one analysis step (median, p99) and its peak memory, for two sizes."""
    from dataclasses import asdict

    from bench.speed import SHAPES, measure
    from iter8.analytics.registry import algorithms as registered

    known = registered()
    names = [a for a in (algorithms or sorted(known)) if a in known]
    timings = [measure(known[a], shape, calls) for a in names for shape in SHAPES]
    table = Table(title="One analysis step")
    for column in ("algorithm", "shape", "median ms", "p99 ms", "peak KiB"):
        table.add_column(column, justify="left" if column in ("algorithm", "shape") else "right")
    for t in timings:
        table.add_row(
            t.algorithm, t.shape, f"{t.median_ms:.2f}", f"{t.p99_ms:.2f}", f"{t.peak_kib:,.0f}"
        )
    _console().print(table)
    if output:
        data = {"calls": calls, **_machine(), "timings": [asdict(t) for t in timings]}
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(data, indent=1) + "\n")


@bench.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def stack(ctx: click.Context) -> None:
    """The embedded stack: one iteration's overhead, many experiments at once (options: --help)."""
    from bench.stack import main

    sys.exit(main(ctx.args))


@bench.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def iteration(ctx: click.Context) -> None:
    """An analysis iteration's fixed costs: in-process, fetches, cold start, HTTP (--help)."""
    from bench.iteration import main

    sys.exit(main(ctx.args))


def _decision_table(
    cells: dict[Any, Any], scenarios: list[Any], algorithms: list[str], runs: int
) -> Table:
    from dataclasses import asdict

    from bench.summary import cell_figures

    table = Table(title=f"Decisions ({runs} runs per cell)")
    for column in ("scenario", "algorithm", "false prom. %", "correct %", "wrong. rollb. %",
                   "moved w/o data %", "median it. (p90)", "median it. correct",
                   "median it. to rollb.", "inferior %", "inferior req.",
                   "SLO-violating req."):  # fmt: skip
        table.add_column(column, justify="left" if column in ("scenario", "algorithm") else "right")
    for scenario in scenarios:
        for index, algorithm in enumerate(algorithms):
            cell = cells.get((algorithm, scenario.name))
            label = scenario.name if index == 0 else ""
            figures = ["n/a"] * 10 if cell is None else cell_figures(asdict(cell))
            table.add_row(label, algorithm, *figures)
        table.add_section()
    return table


def _target_table(found: list[Any]) -> Table:
    table = Table(title="Targets (bayesian)")
    for column in ("target", "measured", "goal", "met"):
        table.add_column(column)
    verdicts = {True: "[green]yes[/]", False: "[red]no[/]", None: "n/a"}
    for t in found:
        table.add_row(t.name, t.measured, t.goal, verdicts[t.met])
    return table


def _console() -> Console:
    """Wide enough for the tables when the output is a file or a pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _machine() -> dict[str, Any]:
    try:
        date = subprocess.run(["date"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:  # pragma: no cover
        date = ""
    import os

    return {
        "date": date,
        "nproc": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
