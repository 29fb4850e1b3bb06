"""Figures per algorithm × scenario (decision-anchors.md §4), the targets, and their rendering."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.run import Record
from bench.scenarios import Scenario

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


def summarize(records: Sequence[Record]) -> Cell:
    iterations = [r.iterations for r in records]
    correct = [r.iterations for r in records if r.correct]
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
    )


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    goal: str
    met: bool


def targets(cells: Mapping[tuple[str, str], Cell], scenarios: Sequence[Scenario]) -> list[Target]:
    """The brief's targets for `bayesian`, each with the number that decides it."""
    found: list[Target] = []
    mine = {s.name: cells[("bayesian", s.name)] for s in scenarios if ("bayesian", s.name) in cells}
    if not mine:
        return found
    harmful = {s.name: mine[s.name] for s in scenarios if not s.no_difference and s.name in mine}
    if harmful:
        worst = max(harmful.items(), key=lambda kv: kv[1].false_promotion_pct)
        found.append(
            Target(
                "promotes a worse or SLO-violating version",
                f"max {worst[1].false_promotion_pct:.1f}% ({worst[0]})",
                "≤ 1% of runs",
                worst[1].false_promotion_pct <= 1.0,
            )
        )
    nulls = [s.name for s in scenarios if s.no_difference and s.name in mine]
    if nulls:
        top = max(mine[n].false_promotion_pct for n in nulls)
        found.append(
            Target(
                "false promotions, no real difference",
                f"max {top:.1f}%",
                f"≤ α = {ALPHA:.0%}",
                top <= 100 * ALPHA,
            )
        )
    for rival, share in (("flagger", 1 / 3), ("iter8-v2", 1 / 2)):
        names = [n for n in mine if (rival, n) in cells]
        if not names:
            continue
        ours = sum(mine[n].inferior_requests for n in names)
        theirs = sum(cells[(rival, n)].inferior_requests for n in names)
        ratio = ours / theirs if theirs else float("inf")
        found.append(
            Target(
                f"inferior requests vs {rival} (sum over {len(names)} scenarios)",
                f"{ours:,.0f} vs {theirs:,.0f} = {ratio:.2f}×",
                f"≤ {share:.2f}×",
                ratio <= share,
            )
        )
    ratios = []
    for name, cell in mine.items():
        fixed = cells.get(("fixed-horizon", name))
        if fixed and cell.median_iterations_correct and fixed.median_iterations_correct:
            ratios.append((cell.median_iterations_correct / fixed.median_iterations_correct, name))
    if ratios:
        worst_ratio, where = max(ratios)
        met = sum(r <= 0.5 for r, _ in ratios)
        found.append(
            Target(
                "median iterations to a correct decision vs fixed horizon",
                f"worst {worst_ratio:.2f}× ({where}); ≤ 0.5× in {met} of {len(ratios)} scenarios; "
                f"median ratio {statistics.median(r for r, _ in ratios):.2f}×",
                "≤ 0.5×",
                worst_ratio <= 0.5,
            )
        )
    return found


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
        "| scenario | algorithm | false promotions % | correct % | median iterations (p90) "
        "| median iterations, correct runs | inferior traffic % | inferior requests "
        "| SLO-violating requests |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in data["scenarios"]:
        for index, algorithm in enumerate(algorithms):
            label = f"{scenario['name']}" if index == 0 else ""
            c = cells.get((algorithm, scenario["name"]))
            if c is None:
                lines.append(f"| {label} | {algorithm} | n/a | n/a | n/a | n/a | n/a | n/a | n/a |")
                continue
            correct = c["median_iterations_correct"]
            lines.append(
                f"| {label} | {algorithm} | {c['false_promotion_pct']:.1f} | {c['correct_pct']:.1f} "
                f"| {c['median_iterations']:g} ({c['p90_iterations']:g}) "
                f"| {'—' if correct is None else f'{correct:g}'} | {c['inferior_traffic_pct']:.1f} "
                f"| {c['inferior_requests']:,.0f} | {c['slo_violating_requests']:,.0f} |"
            )
    lines += ["", "| target (bayesian) | measured | goal | met |", "|---|---|---|---|"]
    lines += [
        f"| {t['name']} | {t['measured']} | {t['goal']} | {'yes' if t['met'] else '**no**'} |"
        for t in data["targets"]
    ]
    return "\n".join(lines) + "\n"
