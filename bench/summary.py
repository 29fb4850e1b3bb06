"""Figures per algorithm × scenario (decision-anchors.md §4), the targets, and their rendering."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.run import Record
from bench.scenarios import SCENARIOS, Scenario

ALPHA = 0.05


@dataclass(frozen=True)
class Cell:
    runs: int
    false_promotion_pct: float
    correct_pct: float
    missed_promotion_pct: float
    no_winner_pct: float
    median_iterations: float
    p90_iterations: float
    median_iterations_correct: float | None  # over the runs that decided correctly
    inferior_traffic_pct: float  # mean over runs of inferior requests / all requests
    inferior_requests: float  # mean per run
    slo_violating_requests: float  # mean per run
    moved_without_data_pct: float = 0.0  # a candidate without data got more weight than at first
    wrongful_rollback_pct: float = 0.0  # rolled back although a candidate was correct
    # over all runs, a run that never rolled back counting as later than any: None when half or
    # more never did
    median_iterations_to_rollback: float | None = None


def summarize(records: Sequence[Record]) -> Cell:
    iterations = [r.iterations for r in records]
    correct = [r.iterations for r in records if r.correct]
    to_rollback = statistics.median_high(
        [r.iterations if r.action == "rollback" else math.inf for r in records]
    )
    return Cell(
        runs=len(records),
        false_promotion_pct=100 * float(np.mean([r.false_promotion for r in records])),
        correct_pct=100 * float(np.mean([r.correct for r in records])),
        missed_promotion_pct=100 * float(np.mean([r.missed_promotion for r in records])),
        no_winner_pct=100 * float(np.mean([r.action == "no-winner" for r in records])),
        median_iterations=float(statistics.median(iterations)),
        p90_iterations=float(np.percentile(iterations, 90)),
        median_iterations_correct=float(statistics.median(correct)) if correct else None,
        inferior_traffic_pct=100
        * float(np.mean([r.inferior_requests / r.requests if r.requests else 0 for r in records])),
        inferior_requests=float(np.mean([r.inferior_requests for r in records])),
        slo_violating_requests=float(np.mean([r.slo_violating_requests for r in records])),
        moved_without_data_pct=100 * float(np.mean([r.moved_without_data for r in records])),
        wrongful_rollback_pct=100 * float(np.mean([r.wrongful_rollback for r in records])),
        median_iterations_to_rollback=None if math.isinf(to_rollback) else float(to_rollback),
    )


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    goal: str
    met: bool | None  # None: cannot be measured here (the algorithm did not run the scenario)


# issue 8: correct decisions, % of runs, where the goal is not the default
CORRECT_GOALS = {
    "ab-slightly-better": 85.0,
    "canary-heavy-tail-under": 95.0,
    "abn-4-versions": 97.0,
    "canary-low-traffic": 95.0,
}
CORRECT_DEFAULT = 98.0
HARMFUL_LIMIT = 1.0  # % of runs promoting a worse or SLO-violating candidate
ROLLBACK_ITERATIONS = {"canary-low-traffic-bad": 10}  # median iterations to roll back, at most
RIVALS = (("iter8-v2", 0.5), ("flagger", 0.8))  # inferior requests, at most this share of theirs
HORIZON_SHARE = 0.5  # median iterations, at most this share of the fixed horizon's
ALGORITHM = "bayesian"


def targets(cells: Mapping[tuple[str, str], Cell], scenarios: Sequence[Scenario]) -> list[Target]:
    """Issue 8's targets for `bayesian`, each with the numbers that decide it and, when missed,
    where."""
    mine = {s.name: cells[(ALGORITHM, s.name)] for s in scenarios if (ALGORITHM, s.name) in cells}
    if not mine:
        return []
    found: list[Target] = []
    harmful = [s.name for s in scenarios if not s.no_difference and s.name in mine]
    nulls = [s.name for s in scenarios if s.no_difference and s.name in mine]
    for names, limit, label in (
        (harmful, HARMFUL_LIMIT, "false promotions, a worse or SLO-violating candidate"),
        (nulls, 100 * ALPHA, "false promotions, no real difference"),
    ):
        if names:
            found.append(_worst(label, {n: mine[n].false_promotion_pct for n in names}, limit))
    found.append(
        _worst(
            "runs moving traffic toward a candidate without data",
            {n: c.moved_without_data_pct for n, c in mine.items()},
            0.0,
        )
    )
    for s in scenarios:
        goal = CORRECT_GOALS.get(s.name, CORRECT_DEFAULT)
        cell = mine.get(s.name)
        found.append(
            Target(
                f"correct decisions: {s.name}",
                "n/a (not run)" if cell is None else f"{cell.correct_pct:.1f}%",
                f"≥ {goal:g}%",
                None if cell is None else cell.correct_pct >= goal,
            )
        )
    for name, limit in ROLLBACK_ITERATIONS.items():
        if any(s.name == name for s in scenarios):
            cell = mine.get(name)
            median = None if cell is None else cell.median_iterations_to_rollback
            found.append(
                Target(
                    f"median iterations to roll back: {name}",
                    "n/a (not run)"
                    if cell is None
                    else ("never (half the runs or more)" if median is None else f"{median:g}"),
                    f"≤ {limit}",
                    None if cell is None else median is not None and median <= limit,
                )
            )
    for rival, share in RIVALS:
        names = [n for n in mine if (rival, n) in cells]
        if not names:
            continue
        ours = sum(mine[n].inferior_requests for n in names)
        theirs = sum(cells[(rival, n)].inferior_requests for n in names)
        ratio = ours / theirs if theirs else (0.0 if ours == 0 else math.inf)
        found.append(
            Target(
                f"inferior requests vs {rival} (sum over {len(names)} scenarios)",
                f"{ours:,.0f} vs {theirs:,.0f} = {ratio:.2f}×",
                f"≤ {share:.2f}×",
                ratio <= share,
            )
        )
    ratios = {
        name: cell.median_iterations / cells[("fixed-horizon", name)].median_iterations
        for name, cell in mine.items()
        if ("fixed-horizon", name) in cells
    }
    if ratios:
        over = sorted((n for n, r in ratios.items() if r > HORIZON_SHARE), key=ratios.__getitem__)
        worst = max(ratios, key=ratios.__getitem__)
        found.append(
            Target(
                "median iterations vs the fixed horizon",
                f"worst {ratios[worst]:.2f}× ({worst}); ≤ {HORIZON_SHARE}× in "
                f"{len(ratios) - len(over)} of {len(ratios)} scenarios"
                + (f"; over: {', '.join(f'{n} {ratios[n]:.2f}×' for n in over)}" if over else ""),
                f"≤ {HORIZON_SHARE}×",
                not over,
            )
        )
    return found


def _worst(label: str, values: Mapping[str, float], limit: float) -> Target:
    """One target over several scenarios: the worst value, and every scenario over the limit."""
    worst = max(values, key=values.__getitem__)
    over = [f"{n} {v:.1f}%" for n, v in sorted(values.items(), key=lambda kv: -kv[1]) if v > limit]
    measured = f"max {values[worst]:.1f}% ({worst})" + (
        f"; over: {', '.join(over)}" if over else ""
    )
    return Target(label, measured, f"≤ {limit:g}% in every scenario", not over)


def to_json(
    cells: Mapping[tuple[str, str], Cell],
    scenarios: Sequence[Scenario],
    found: Sequence[Target],
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        **meta,
        "scenarios": [
            {
                "name": s.name,
                "description": s.description,
                "pattern": s.pattern,
                "trafficPerIteration": s.traffic,
                "maxIterations": s.max_iterations,
                "dropRate": s.drop,
                "independentLoss": s.independent_loss,
                "lag": s.lag,
                "rewards": list(s.rewards) if s.pattern != "Canary" else [],
                "correct": s.correct,
            }
            for s in scenarios
        ],
        "cells": [
            {"algorithm": a, "scenario": n, **asdict(c)} for (a, n), c in sorted(cells.items())
        ],
        "targets": [asdict(t) for t in found],
    }


def markdown(data: Mapping[str, Any]) -> str:
    """The decision tables of a `to_json` document, as Markdown for bench/README.md."""
    cells = {(c["algorithm"], c["scenario"]): c for c in data["cells"]}
    algorithms = list(dict.fromkeys(c["algorithm"] for c in data["cells"]))
    lines = [
        "| scenario | algorithm | false promotions % | correct % | wrongful rollbacks % "
        "| moved without data % | median iterations (p90) | median iterations, correct runs "
        "| median iterations to rollback | inferior traffic % | inferior requests "
        "| SLO-violating requests |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in data["scenarios"]:
        for index, algorithm in enumerate(algorithms):
            label = f"{scenario['name']}" if index == 0 else ""
            c = cells.get((algorithm, scenario["name"]))
            if c is None:
                lines.append(f"| {label} | {algorithm} |" + " n/a |" * 10)
                continue
            lines.append(f"| {label} | {algorithm} | " + " | ".join(cell_figures(c)) + " |")
    lines += ["", "| target (bayesian) | measured | goal | met |", "|---|---|---|---|"]
    verdicts = {True: "yes", False: "**no**", None: "n/a"}
    lines += [
        f"| {t['name']} | {t['measured']} | {t['goal']} | {verdicts[t['met']]} |"
        for t in data["targets"]
    ]
    return "\n".join(lines) + "\n"


def cell_figures(c: Mapping[str, Any]) -> list[str]:
    """One cell's figures as printed, in the order of the tables' columns."""
    correct = c["median_iterations_correct"]
    rollback = c.get("median_iterations_to_rollback")
    return [
        f"{c['false_promotion_pct']:.1f}",
        f"{c['correct_pct']:.1f}",
        f"{c.get('wrongful_rollback_pct', 0.0):.1f}",
        f"{c.get('moved_without_data_pct', 0.0):.1f}",
        f"{c['median_iterations']:g} ({c['p90_iterations']:g})",
        "—" if correct is None else f"{correct:g}",
        "—" if rollback is None else f"{rollback:g}",
        f"{c['inferior_traffic_pct']:.1f}",
        f"{c['inferior_requests']:,.0f}",
        f"{c['slo_violating_requests']:,.0f}",
    ]


def merged(fresh: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """`fresh` (a `to_json` document of some algorithms) completed with the other algorithms'
    cells from `previous`, the targets recomputed. Only between runs of the same seeds, runs and
    scenarios: an anchor's rows do not change when only `bayesian` does, so re-simulating them
    would only cost time."""
    same = ("runs", "seed")
    if any(fresh[k] != previous[k] for k in same):
        raise ValueError(f"not the same {' and '.join(same)}: cannot merge")
    names = [s["name"] for s in fresh["scenarios"]]
    if names != [s["name"] for s in previous["scenarios"]]:
        raise ValueError("not the same scenarios: cannot merge")
    ran = {c["algorithm"] for c in fresh["cells"]}
    kept = [c for c in previous["cells"] if c["algorithm"] not in ran]
    rows = [*fresh["cells"], *kept]
    fields = set(Cell.__dataclass_fields__)
    cells = {
        (c["algorithm"], c["scenario"]): Cell(**{k: v for k, v in c.items() if k in fields})
        for c in rows
    }
    scenarios = [s for s in SCENARIOS if s.name in names]
    found = targets(cells, scenarios)
    meta = {k: v for k, v in fresh.items() if k not in ("scenarios", "cells", "targets")}
    reused = sorted({c["algorithm"] for c in kept})
    return to_json(cells, scenarios, found, {**meta, "reused": reused})


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m bench.summary FRESH PREVIOUS OUTPUT [MARKDOWN]`: `merged`, written out."""
    import json
    import sys
    from pathlib import Path

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (3, 4):
        raise SystemExit(main.__doc__)
    fresh, previous = (json.loads(Path(p).read_text()) for p in args[:2])
    document = merged(fresh, previous)
    Path(args[2]).write_text(json.dumps(document, indent=1) + "\n")
    if len(args) == 4:
        Path(args[3]).write_text(markdown(document))


if __name__ == "__main__":
    main()
