"""An experiment in words and tables, as `iter8ctl describe` printed it (iter8-v2.md §5.4), and
then why: per version and objective the probability it holds, P(best), the decision and reason.

Pure: an Experiment in, text out. Works on whatever the status holds (a v2-shaped analysis from
either algorithm; the Bayesian details when present).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from iter8.api.experiment import Experiment
from iter8.api.quantity import parse_quantity
from iter8.api.references import resolve


def describe(experiment: Experiment) -> str:
    sections = [
        _section("Overview", _overview(experiment)),
        _section("Progress Summary", _progress(experiment)),
        _section("Winner Assessment", _winner(experiment)),
    ]
    objectives = _objectives_table(experiment)
    if objectives:
        sections.append(_section("Objective Assessment", objectives))
    metrics = _metrics_table(experiment)
    if metrics:
        sections.append(_section("Metrics Assessment", metrics))
    why = _why(experiment)
    if why:
        sections.append(_section("Why", why))
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
    ]


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
    return lines


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
        parts.append(f"{parse_quantity(objective.lower_limit):.3f} <=")
    parts.append(str(key))
    if objective.upper_limit is not None:
        parts.append(f"<= {parse_quantity(objective.upper_limit):.3f}")
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
    held = (details.get("weights") or {}).get("held") or {}
    for version, why in held.items() if isinstance(held, dict) else []:
        lines.append(f"Held: {version}: {why}")
    more = details.get("moreNeeded") or {}
    if isinstance(more, dict) and more:
        lines.append(
            "To settle (rough, normal approximation): "
            + "; ".join(f"{v} {text}" for v, text in more.items())
        )
    missing = details.get("missingData") or {}
    for note in (missing.get("invalid") or []) if isinstance(missing, dict) else []:
        lines.append(f"Invalid observation: {note}")
    return lines


def _number(value: object) -> str:
    if value is None:
        return "unknown"
    try:
        return f"{float(value):.3f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    rows = [list(r) for r in rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells: Sequence[str]) -> str:
        return "|" + "|".join(f" {c!s:<{w}} " for c, w in zip(cells, widths, strict=False)) + "|"

    return [rule, line(header), rule, *[line(r) for r in rows], rule]
