"""Benchmark of the embedded stack: one iteration's overhead, and many experiments at once.

    python -m bench.stack [--runs 3] [--inprocess-iterations 200] [--http-iterations 60]
                          [--experiments 200] [--iterations 10] [--load-runs 1]
                          [--broker sync|async|both] [--env NAME=VALUE]
                          [--only overhead|load|tick] [--tick-runs 10]
                          [--output bench/results/stack.json] [--markdown FILE]

(also `iter8 bench stack …`). Two measurements:

1. **Overhead** of one iteration, tick → analysis → weights applied, with mock metrics; the time
   inside the metrics fetch is measured and subtracted in-process (through the stack it is
   included; it is the in-process "fetch" row). In-process (`bench.stack_inprocess`: the
   handlers on a SqliteStore, our code alone) and through the real stack
   (`bench.stack_http`: broker and function processes over HTTP, per hop). Each run gives a
   median and a p90; the figure quoted is the median over `--runs` runs.
2. **Load** (`bench.stack_load`): `--experiments` experiments with 1-second intervals, each
   `--iterations` iterations, on `EmbeddedStack` with a SqliteStore; then proof from their
   statuses and the event log that no iteration was missed or doubled, and the lag of each
   iteration (start − due).
3. **Tick** (`bench.stack_tick`, only with `--only tick`): the CPU of analyze's tick handler
   with `--experiments` experiments in the store, none due (all running; half completed), with
   nothing written since the last tick and with every experiment written since.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench import stack_http, stack_inprocess, stack_load, stack_tick
from bench.stack_load import LoadResult, percentile
from bench.stack_objects import ALGORITHM

TARGET_MS = 50.0
MS = 1000.0


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stack", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", type=int, default=3, help="repeat the overhead runs (default 3)")
    parser.add_argument("--inprocess-iterations", type=int, default=200)
    parser.add_argument("--http-iterations", type=int, default=60)
    parser.add_argument("--experiments", type=int, default=200, help="load: at once")
    parser.add_argument("--iterations", type=int, default=10, help="load: per experiment")
    parser.add_argument("--load-runs", type=int, default=1, help="repeat the load run")
    parser.add_argument("--broker", choices=("sync", "async", "both"), default="sync")
    parser.add_argument("--algorithm", default=ALGORITHM)
    parser.add_argument("--only", choices=("overhead", "load", "tick"), default=None)
    parser.add_argument("--tick-runs", type=int, default=10, help="tick: ticks timed per case")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="load: more environment for the function processes (repeatable)",
    )
    parser.add_argument("--output", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables as Markdown")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run, print the tables, write the JSON; 0 if no iteration was missed or doubled."""
    args = parse(argv)
    # A SIGTERM unwinds like Ctrl-C, so the stack stops its function processes.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    console = Console() if sys.stdout.isatty() else Console(width=160)
    figures: dict[str, Any] = {"machine": machine(), "args": _jsonable(vars(args))}
    ok = True
    tables: list[Table] = []
    if args.only in (None, "overhead"):
        runs = [overhead_run(args, console, r) for r in range(args.runs)]
        figures["overhead"] = summarize_overhead(runs)
        tables.append(overhead_table(figures["overhead"], args))
        console.print(tables[-1])
    if args.only in (None, "load"):
        modes = {"sync": [False], "async": [True], "both": [False, True]}[args.broker]
        env = dict(item.split("=", 1) for item in args.env)
        results = []
        for async_broker in modes:
            for run in range(args.load_runs):
                console.print(
                    f"load run {run + 1}/{args.load_runs}: {args.experiments} experiments × "
                    f"{args.iterations} iterations, {'async' if async_broker else 'sync'} broker …"
                )
                results.append(
                    stack_load.run(
                        args.experiments, args.iterations, async_broker=async_broker, env=env
                    )
                )
        figures["load"] = [load_figures(r) for r in results]
        tables.append(load_table(results))
        console.print(tables[-1])
        for result in results:
            for problem in result.problems[:20]:
                console.print(f"[red]problem[/]: {problem}")
        ok = all(not r.problems and r.completed == r.experiments for r in results)
    if args.only == "tick":
        costs = []
        for completed in (0, args.experiments // 2):
            console.print(f"tick: {args.experiments} experiments, {completed} to complete …")
            costs.append(
                stack_tick.measure(
                    args.experiments, 3, args.algorithm, completed=completed, ticks=args.tick_runs
                )
            )
        figures["tick"] = [cost.figures() for cost in costs]
        tables.append(tick_table(figures["tick"]))
        console.print(tables[-1])
    if "overhead" in figures or "load" in figures:
        tables.append(target_table(figures))
        console.print(tables[-1])
    console.print(
        f"{figures['machine']['date']}; {figures['machine']['nproc']} CPUs "
        f"{figures['machine']['machine']}; Python {figures['machine']['python']}"
    )
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(figures, indent=1) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join(markdown(table) for table in tables))
    return 0 if ok else 1


# -- overhead ------------------------------------------------------------------------------


def overhead_run(args: argparse.Namespace, console: Console, index: int) -> dict[str, Any]:
    console.print(f"overhead run {index + 1}/{args.runs}: in-process …")
    inproc = stack_inprocess.measure(args.inprocess_iterations, args.algorithm)
    console.print(f"overhead run {index + 1}/{args.runs}: through the stack …")
    http = stack_http.measure(args.http_iterations, algorithm=args.algorithm)
    # Through the stack the fetch runs inside the analyze process: subtract this run's
    # in-process median of it (same code, same mock levels).
    fetch = statistics.median(inproc.parts["fetch"])
    return {
        "inprocess": {
            **{part: _stats(values) for part, values in inproc.parts.items()},
            "overhead": _stats(inproc.overhead),
        },
        "http": {
            **{hop: _stats(values) for hop, values in http.hops.items()},
            "total": _stats(http.total),
            "overhead": _stats([total - fetch for total in http.total]),
            "discarded": http.discarded,
        },
    }


def summarize_overhead(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per row: the median over runs of each run's median and p90, and every run's median."""
    summary: dict[str, Any] = {"runs": runs, "median_of_runs": {}}
    for where in ("inprocess", "http"):
        rows = {}
        for part, first in runs[0][where].items():
            if not isinstance(first, dict):
                continue
            medians = [run[where][part]["median_ms"] for run in runs]
            rows[part] = {
                "median_ms": statistics.median(medians),
                "p90_ms": statistics.median(run[where][part]["p90_ms"] for run in runs),
                "run_medians_ms": medians,
                "n": sum(run[where][part]["n"] for run in runs),
            }
        summary["median_of_runs"][where] = rows
    return summary


def overhead_table(summary: dict[str, Any], args: argparse.Namespace) -> Table:
    table = Table(
        title=f"One iteration, tick → analysis → weights applied ({args.algorithm}, mock "
        f"metrics; median over {args.runs} run(s))"
    )
    for column in ("where", "part", "median ms", "p90 ms", "run medians ms", "n"):
        table.add_column(column, justify="left" if column in ("where", "part") else "right")
    labels = {
        "inprocess": {
            "tick": "tick (ping: list, plan, POST due)",
            "analyze": "analyze (incl. fetch)",
            "route": "route",
            "fetch": "metrics fetch (mock), subtracted",
            "overhead": "= overhead (tick+analyze+route−fetch)",
        },
        "http": {
            "tick": "tick hop (ping → analyze, less its POST)",
            "analyze": "analyze hop (iteration.due)",
            "route": "route hop (analysis.completed)",
            "notify": "notifier hop (weights.applied)",
            "broker": "broker (ingress, matching, replies)",
            "total": "= total, ping POST to its 202",
            "overhead": "= overhead (total − in-process fetch median)",
        },
    }
    names = {"inprocess": "in-process", "http": "through the stack"}
    for where, rows in summary["median_of_runs"].items():
        for index, (part, row) in enumerate(rows.items()):
            bold = part == "overhead"
            cells = [
                f"{row['median_ms']:.1f}",
                f"{row['p90_ms']:.1f}",
                " ".join(f"{m:.1f}" for m in row["run_medians_ms"]),
                str(row["n"]),
            ]
            label = labels[where].get(part, part)
            table.add_row(
                names[where] if index == 0 else "",
                f"[bold]{label}[/]" if bold else label,
                *(f"[bold]{c}[/]" if bold else c for c in cells),
            )
        table.add_section()
    return table


# -- load ----------------------------------------------------------------------------------


def load_figures(result: LoadResult) -> dict[str, Any]:
    lags = result.lags
    firsts = [c.first for c in result.checks if c.first is not None]
    starts = [c.started for c in result.checks if c.started is not None]
    iterations = result.iterations_run
    return {
        "experiments": result.experiments,
        "iterations_each": result.iterations,
        "broker": "async" if result.async_broker else "sync",
        "seconds": round(result.seconds, 2),
        "completed": result.completed,
        "iterations_per_second": round(iterations / result.seconds, 1) if result.seconds else None,
        "problems": result.problems,
        "lag_s": {
            "n": len(lags),
            "p50": percentile(lags, 0.5),
            "p90": percentile(lags, 0.9),
            "max": max(lags, default=float("nan")),
            "over_one_tick": sum(lag > stack_load.INTERVAL for lag in lags),
            # iteration 2 follows the first, which runs on `initialized`, off the tick grid
            "over_one_tick_at_2": sum(
                c.lags[0] > stack_load.INTERVAL for c in result.checks if c.lags
            ),
        },
        "initialised_after_create_s": {
            "p50": percentile(starts, 0.5),
            "max": max(starts, default=float("nan")),
        },
        "first_iteration_s": {
            "p50": percentile(firsts, 0.5),
            "max": max(firsts, default=float("nan")),
        },
        "delivery_ms": {
            kind: {
                "n": len(values),
                "p50": percentile(values, 0.5) * MS,
                "p90": percentile(values, 0.9) * MS,
                "max": max(values) * MS,
            }
            for kind, values in sorted(result.hops.items())
        },
        "ticks": result.ticks,
        "cpu_ms_per_iteration": {k: round(v * MS / iterations, 2) for k, v in result.cpu.items()},
        "cpu_seconds": {k: round(v, 2) for k, v in result.cpu.items()},
    }


def load_table(results: list[LoadResult]) -> Table:
    table = Table(title="Experiments at once, 1-second intervals, on the embedded stack (SQLite)")
    table.add_column("")
    for result in results:
        broker = "async" if result.async_broker else "sync"
        table.add_column(f"{result.experiments} × {result.iterations}, {broker}", justify="right")
    figures = [load_figures(r) for r in results]

    def row(label: str, cell: Any) -> None:
        table.add_row(label, *(cell(f) for f in figures))

    row("completed", lambda f: f"{f['completed']}/{f['experiments']}")
    row(
        "missed or doubled",
        lambda f: "none" if not f["problems"] else f"[red]{len(f['problems'])}[/]",
    )
    row("wall time, s", lambda f: f"{f['seconds']:.1f}")
    row("iterations per second", lambda f: f"{f['iterations_per_second']}")
    row("lag p50, s", lambda f: f"{f['lag_s']['p50']:.3f}")
    row("lag p90, s", lambda f: f"{f['lag_s']['p90']:.3f}")
    row("lag max, s", lambda f: f"{f['lag_s']['max']:.3f}")
    row("lag > 1 tick, of n", lambda f: f"{f['lag_s']['over_one_tick']} of {f['lag_s']['n']}")
    row("… of them iteration 2", lambda f: str(f["lag_s"].get("over_one_tick_at_2", "")))
    row(
        "init after create p50/max, s",
        lambda f: "{p50:.2f} / {max:.2f}".format(**f["initialised_after_create_s"]),
    )
    row("iteration 1 after init p50, s", lambda f: f"{f['first_iteration_s']['p50']:.3f}")
    row(
        "ticks sent/skipped/dropped",
        lambda f: "{sent} / {skipped} / {dropped}".format(**f["ticks"]),
    )
    table.add_section()
    names = {
        "ping": "a whole tick (ping → analyze)",
        "due": "iteration.due → analyze",
        "completed": "analysis.completed → route",
        "applied": "weights.applied → notifier",
    }
    for kind, label in names.items():
        row(
            f"{label}, p50/p90 ms",
            lambda f, k=kind: (
                "{p50:.0f} / {p90:.0f}".format(**f["delivery_ms"][k])
                if k in f["delivery_ms"]
                else "—"
            ),
        )
    table.add_section()
    for component in figures[0]["cpu_ms_per_iteration"] if figures else []:
        label = "bench process (broker, sources, sinks)" if component == "bench" else component
        row(
            f"CPU ms/iteration: {label}",
            lambda f, c=component: f"{f['cpu_ms_per_iteration'][c]:.1f}",
        )
    return table


def tick_table(figures: list[dict[str, Any]]) -> Table:
    table = Table(title="The tick's CPU, none due (list, parse, plan): mean (p50) per tick")
    for column in ("store", "nothing written since, ms", "all written since, ms", "ticks"):
        table.add_column(column)
    for cost in figures:
        table.add_row(
            cost["store"],
            "{mean:.1f} (p50 {p50:.1f})".format(**cost["unchanged_cpu_ms"]),
            "{mean:.1f} (p50 {p50:.1f})".format(**cost["changed_cpu_ms"]),
            str(cost["unchanged_cpu_ms"]["n"]),
        )
    return table


def target_table(figures: dict[str, Any]) -> Table:
    table = Table(title="Targets (issue 4)")
    for column in ("target", "measured", "met"):
        table.add_column(column)
    if "overhead" in figures:
        rows = figures["overhead"]["median_of_runs"]
        for where, part, name in (
            ("inprocess", "overhead", "in-process"),
            ("http", "overhead", "through the stack"),
        ):
            value = rows[where][part]["median_ms"]
            table.add_row(
                f"one iteration ≤ {TARGET_MS:.0f} ms median ({name})",
                f"{value:.1f} ms",
                _met(value <= TARGET_MS),
            )
    for load in figures.get("load", []):
        table.add_row(
            f"{load['experiments']} experiments at 1 s ({load['broker']}): none missed or doubled",
            "none" if not load["problems"] else f"{len(load['problems'])} problems",
            _met(not load["problems"] and load["completed"] == load["experiments"]),
        )
        table.add_row(
            f"{load['experiments']} experiments at 1 s ({load['broker']}): lag within one tick",
            f"p50 {load['lag_s']['p50']:.2f} s, p90 {load['lag_s']['p90']:.2f} s, max {load['lag_s']['max']:.2f} s",
            _met(load["lag_s"]["over_one_tick"] == 0),
        )
    return table


# -- helpers -------------------------------------------------------------------------------


def markdown(table: Table) -> str:
    """A printed table as a Markdown table (markup stripped), under its title in bold."""

    def plain(cell: object) -> str:
        text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
        return text.replace("|", "\\|")

    columns = [list(column.cells) for column in table.columns]
    lines = [f"**{plain(table.title)}**", ""] if table.title else []
    lines.append("| " + " | ".join(plain(c.header) or " " for c in table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    for row in zip(*columns, strict=True):
        lines.append("| " + " | ".join(plain(cell) for cell in row) + " |")
    return "\n".join(lines) + "\n"


def _stats(seconds: list[float]) -> dict[str, float | int]:
    return {
        "median_ms": statistics.median(seconds) * MS if seconds else float("nan"),
        "p90_ms": percentile(seconds, 0.9) * MS,
        "n": len(seconds),
    }


def _met(yes: bool) -> str:
    return "[green]yes[/]" if yes else "[red]no[/]"


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


def machine() -> dict[str, Any]:
    date = subprocess.run(["date"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "date": date or time.strftime("%c"),
        "nproc": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    sys.exit(main())
