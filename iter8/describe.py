"""An experiment in words and tables, as `iter8ctl describe` printed it (iter8-v2.md §5.4), and
then why: per version and objective the probability it holds, P(best), the decision and reason.

Pure: an Experiment in, text out (tables drawn by `rich`, no colour codes). Works on whatever
the status holds (a v2-shaped analysis from either algorithm; the Bayesian details when present).
Quantities print as numbers (`1022564102565n` as `1022.564`), never as Kubernetes wrote them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from iter8.api.experiment import Experiment
from iter8.api.quantity import parse_quantity
from iter8.api.references import resolve
from iter8.lifecycle import control

WIDTH = 400  # a table never wraps its cells (a terminal folds long lines; a pipe keeps them)

LEGEND = [
    "> How to read the figures:",
    "  P(holds)  the probability, given the data so far, that a version meets an objective.",
    "  P(best)   the probability, given the data so far, that a version is the best one by the",
    "            reward (or by meeting the objectives, when there is no reward); the split",
    "            follows it. It is a belief, not proof: nothing is promoted on P(best) alone.",
    "  e-value   the evidence against the opposite of a claim, safe to look at after every",
    "            iteration: the claim is proven once it reaches 1/alpha (20 for alpha 0.05), and",
    "            the chance of a false proof stays below alpha however often you look.",
    "  n         the sample behind a figure (requests); an unknown n counts as 0.",
    "  unknown   no value (a query failed or returned nothing): it holds the split and never",
    "            counts as proof either way.",
]


def describe(experiment: Experiment) -> str:
    sections = [
        _section("Overview", _overview(experiment)),
        _section("Progress Summary", _progress(experiment)),
        _section("Winner Assessment", _winner(experiment)),
    ]
    rewards = _rewards_table(experiment)
    if rewards:
        sections.append(_section("Reward Assessment", rewards))
    objectives = _objectives_table(experiment)
    if objectives:
        sections.append(_section("Objective Assessment", objectives))
    metrics = _metrics_table(experiment)
    if metrics:
        sections.append(_section("Metrics Assessment", metrics))
    failed = failed_queries(experiment)
    if failed:
        lines = ["> Queries the metrics backend answered with no value, in its words:"]
        sections.append(
            _section("Metric queries", lines + [f"{k} for {v}: {m}" for k, v, m in failed])
        )
    why = _why(experiment)
    if why:
        sections.append(_section("Why", why))
    if experiment.status and experiment.status.analysis:
        sections.append(_section("Legend", LEGEND))
    return "\n\n".join(sections) + "\n"


def _section(title: str, lines: Sequence[str]) -> str:
    return "\n".join([f"****** {title} ******", *lines])


def _overview(experiment: Experiment) -> list[str]:
    strategy = experiment.spec.strategy
    return [
        f"Experiment name: {experiment.metadata.name}",
        f"Experiment namespace: {experiment.namespace}",
        f"Target: {experiment.spec.target}",
        f"Testing pattern: {strategy.testing_pattern}",
        f"Deployment pattern: {strategy.deployment_pattern or 'Progressive'}",
        *_control(experiment),
    ]


def _control(experiment: Experiment) -> list[str]:
    """What an operator asked for (annotations) and what the functions made of it (conditions)."""
    asked = control.control_of(experiment)
    name = f"{experiment.namespace}/{experiment.metadata.name}"
    lines = []
    if asked.paused:
        lines.append(f"Control: paused by an operator (iter8 resume {name} goes on)")
    if asked.abort is not None:
        lines.append(f"Control: abort asked ({asked.abort})")
    if asked.promote:
        lines.append(f"Control: promotion of {asked.promote} forced by an operator")
    if asked.approval_required:
        timeout = (
            f"; after {asked.approval_timeout} without approval: {asked.timeout_outcome}"
            if asked.approval_timeout
            else "; no timeout"
        )
        given = "approved" if asked.approved else f"not yet approved (iter8 approve {name})"
        lines.append(f"Approval before promotion: required{timeout}; {given}")
    return lines


def _progress(experiment: Experiment) -> list[str]:
    status = experiment.status
    if status is None:
        return ["Experiment stage: not started"]
    lines = [
        f"Experiment stage: {status.stage or 'not started'}",
        f"Number of completed iterations: {status.completed_iterations or 0}",
    ]
    if status.message:
        lines.append(f"Message: {status.message}")
    shown = [c for c in status.conditions or [] if c.type in _CONDITIONS or c.status == "True"]
    if shown:
        rows = [[c.type, c.status, c.reason or "", c.message or ""] for c in shown]
        lines += _table(["CONDITION", "STATUS", "REASON", "MESSAGE"], rows)
    return lines


_CONDITIONS = (
    "Completed",
    "Failed",
    control.CONDITION_PAUSED,
    control.CONDITION_AWAITING_APPROVAL,
    control.CONDITION_ABORTED,
    control.CONDITION_PROMOTION_FORCED,
)


def _analysis(experiment: Experiment) -> Any:
    return experiment.status.analysis if experiment.status else None


def _winner(experiment: Experiment) -> list[str]:
    names = [v.name for v in experiment.versions]
    lines = [f"App versions in this experiment: [{' '.join(names)}]"]
    analysis = _analysis(experiment)
    data = (
        (analysis.winner_assessment.data or {}) if analysis and analysis.winner_assessment else {}
    )
    if data.get("winnerFound"):
        lines.append(f"Winning version: {data.get('winner')}")
    else:
        lines.append("Winning version: not found")
    recommended = experiment.status.version_recommended_for_promotion if experiment.status else None
    if recommended:
        lines.append(f"Version recommended for promotion: {recommended}")
    weights = analysis.weights.data if analysis and analysis.weights else None
    if weights:
        lines.append(
            "Recommended weights: " + ", ".join(f"{w['name']} {w['value']}%" for w in weights)
        )
    current = experiment.status.current_weight_distribution if experiment.status else None
    if current:
        lines.append("Current weights: " + ", ".join(f"{w.name} {w.value}%" for w in current))
    return lines


def _objective_text(objective: Any, namespace: str) -> str:
    key = resolve(objective.metric, namespace)
    parts = []
    if objective.lower_limit is not None:
        parts.append(f"{parse_quantity(objective.lower_limit):g} ≤")
    parts.append(str(key))
    if objective.upper_limit is not None:
        parts.append(f"≤ {parse_quantity(objective.upper_limit):g}")
    return " ".join(parts)


def _objectives_table(experiment: Experiment) -> list[str]:
    objectives = (experiment.spec.criteria.objectives if experiment.spec.criteria else None) or []
    analysis = _analysis(experiment)
    assessments = (
        (analysis.version_assessments.data or {})
        if analysis and analysis.version_assessments
        else {}
    )
    if not objectives:
        return []
    names = [v.name for v in experiment.versions]
    rows = []
    for index, objective in enumerate(objectives):
        row = [_objective_text(objective, experiment.namespace)]
        for name in names:
            verdicts = assessments.get(name)
            row.append(
                str(verdicts[index]).lower() if verdicts and index < len(verdicts) else "unknown"
            )
        rows.append(row)
    return [
        "> Whether each version satisfies each objective, by the latest analysis.",
        *_table(["OBJECTIVE", *[n.upper() for n in names]], rows),
    ]


def _rewards_table(experiment: Experiment) -> list[str]:
    """Each reward, which way is better, its latest value per version and the best of them."""
    rewards = (experiment.spec.criteria.rewards if experiment.spec.criteria else None) or []
    if not rewards:
        return []
    data = _aggregated(experiment)
    names = [v.name for v in experiment.versions]
    rows = []
    for reward in rewards:
        key = str(resolve(reward.metric, experiment.namespace))
        values = ((data.get(key) or {}).get("data")) or {}
        numbers = {n: _float((values.get(n) or {}).get("value")) for n in names}
        known = {n: v for n, v in numbers.items() if v is not None}
        pick = max if reward.preferred_direction == "High" else min
        best = pick(known, key=lambda n: known[n]) if known else "unknown"
        rows.append([key, reward.preferred_direction, *[_number(numbers[n]) for n in names], best])
    return [
        "> The rewards (what makes a version better), most recently read; BEST by these values "
        "alone (the winner also needs the objectives and the evidence).",
        *_table(["REWARD", "BETTER", *[n.upper() for n in names], "BEST"], rows),
    ]


def _aggregated(experiment: Experiment) -> dict[str, Any]:
    analysis = _analysis(experiment)
    block = analysis.aggregated_metrics if analysis else None
    return (block.data or {}) if block else {}


def failed_queries(experiment: Experiment) -> list[tuple[str, str, str]]:
    """(metric, version, the backend's message) of each query that gave no value last time."""
    failed = []
    for key, entry in _aggregated(experiment).items():
        for version, value in ((entry or {}).get("data") or {}).items():
            if isinstance(value, dict) and value.get("message"):
                failed.append((key, version, str(value["message"])))
    return failed


def _metrics_table(experiment: Experiment) -> list[str]:
    analysis = _analysis(experiment)
    data = (
        (analysis.aggregated_metrics.data or {}) if analysis and analysis.aggregated_metrics else {}
    )
    if not data:
        return []
    names = [v.name for v in experiment.versions]
    units = (
        {
            m.name: (m.metric_obj or {}).get("spec", {}).get("units")
            for m in (experiment.status.metrics or [])
        }
        if experiment.status
        else {}
    )
    rows = []
    for key, entry in data.items():
        label = f"{key} ({units[key]})" if units.get(key) else key
        values = (entry or {}).get("data") or {}
        rows.append([label, *[_number((values.get(n) or {}).get("value")) for n in names]])
    return [
        "> Most recently read values of experiment metrics.",
        *_table(["METRIC", *[n.upper() for n in names]], rows),
    ]


def _why(experiment: Experiment) -> list[str]:
    analysis = _analysis(experiment)
    if analysis is None:
        return []
    lines: list[str] = []
    decision = analysis.decision or {}
    if decision:
        target = f" {decision['version']}" if decision.get("version") else ""
        lines.append(f"Decision: {decision.get('action')}{target}")
        if decision.get("reason"):
            lines.append(f"Reason: {decision['reason']}")
    details = analysis.details or {}
    checks = details.get("objectives") or {}
    if checks:
        names = [v.name for v in experiment.versions]
        objectives = [c.get("objective", "") for c in next(iter(checks.values()), [])]
        rows = []
        for index, objective in enumerate(objectives):
            row = [objective]
            for name in names:
                items = checks.get(name) or []
                p = items[index].get("pHolds") if index < len(items) else None
                row.append(_number(p))
            rows.append(row)
        lines += [
            "> Probability that each objective holds, from the posterior.",
            *_table(["OBJECTIVE", *[n.upper() for n in names]], rows),
        ]
    p_best = details.get("pBest") or {}
    if p_best:
        lines.append("P(best): " + ", ".join(f"{name} {_number(p)}" for name, p in p_best.items()))
    return lines + _evidence(experiment, details)


def _evidence(experiment: Experiment, details: dict[str, Any]) -> list[str]:
    """What each decision rests on (`bayes.evidence`), what was held for lack of it, and when
    there is no winner yet, roughly how much more traffic would settle it."""
    lines: list[str] = []
    basis = details.get("evidence") or {}
    if isinstance(basis, dict) and basis:
        names = [v.name for v in experiment.versions]
        keys = list(
            dict.fromkeys(k for per in basis.values() if isinstance(per, dict) for k in per)
        )
        rows = [[k, *[str((basis.get(n) or {}).get(k, "-")) for n in names]] for k in keys]
        lines += [
            "> The evidence each metric gives per version (a version gains traffic, is promoted "
            "or rolled back only on evidence).",
            *_table(["METRIC", *[n.upper() for n in names]], rows),
        ]
    weights = details.get("weights") or {}
    if isinstance(weights, dict) and isinstance(weights.get("basis"), str):
        lines.append(f"Split: {weights['basis']}")
    held = (weights.get("held") if isinstance(weights, dict) else None) or {}
    for version, why in held.items() if isinstance(held, dict) else []:
        lines.append(f"Held: {version}: {why}")
    more = details.get("moreNeeded") or {}
    if isinstance(more, dict) and more:
        lines.append(
            "To settle (rough: the tests re-run with today's estimates held): "
            + "; ".join(f"{v} {text}" for v, text in more.items())
        )
    missing = details.get("missingData") or {}
    missing = missing if isinstance(missing, dict) else {}
    for key in missing.get("shared") or []:
        lines.append(
            f"Shared values: {key}: every version answered the very same values, so they are no "
            "version's own evidence; does its query select the version (for example with a "
            "label matcher on $name, the version's name)?"
        )
    for note in missing.get("invalid") or []:
        lines.append(f"Invalid observation: {note}")
    return lines


def _float(value: object) -> float | None:
    """A number, a numeric string or a Kubernetes quantity (`1022564102565n`) as a float."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return parse_quantity(value) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _number(value: object) -> str:
    number = _float(value)
    if number is None:
        return "unknown" if value is None else str(value)
    return f"{number:.3f}" if abs(number) < 1e15 else f"{number:.4g}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    table = Table(*header, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for row in rows:
        table.add_row(*[str(cell) for cell in row])
    out = io.StringIO()
    Console(file=out, width=WIDTH, color_system=None, force_terminal=False).print(table)
    return [line.rstrip() for line in out.getvalue().splitlines() if line.strip()]
