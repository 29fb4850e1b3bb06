"""What a report shows, read from an Experiment's status alone: pure, no plotting.

The series come from `status.analysis.history` (`iter8.lifecycle.history`); a status written
before it existed falls back to the Bayesian `details.history` (split and P(best) of the last
iterations) and the latest analysis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iter8.api.experiment import Experiment
from iter8.api.quantity import parse_quantity
from iter8.api.references import resolve
from iter8.lifecycle import history

Series = list[float | None]  # one value per iteration shown, None where there was none


@dataclass(frozen=True)
class Band:
    """One version's metric: the value and its 95% interval per iteration."""

    version: str
    values: Series
    lows: Series
    highs: Series


@dataclass(frozen=True)
class MetricView:
    key: str
    role: str  # "objective", "reward (higher is better)", ... or "" for a plain metric
    units: str | None
    lower: float | None
    upper: float | None
    bands: list[Band]


@dataclass(frozen=True)
class Evidence:
    """What the decision rested on, per iteration."""

    p_best: dict[str, Series] = field(default_factory=dict)
    # per version: objective → (log e-value that it holds, that it fails)
    e_values: dict[str, dict[str, tuple[Series, Series]]] = field(default_factory=dict)
    comparisons: dict[str, Series] = field(default_factory=dict)  # "reward: a > b" → log e
    objectives_met: dict[str, Series] = field(default_factory=dict)  # share met (iter8-v2)
    threshold: float | None = None  # ln(1/α): an e-value past it is proof


@dataclass(frozen=True)
class Moment:
    time: str
    what: str
    detail: str = ""


@dataclass(frozen=True)
class Report:
    name: str
    namespace: str
    target: str
    testing_pattern: str
    deployment_pattern: str
    algorithm: str
    versions: list[str]
    stage: str
    iterations: list[int]
    dropped: int
    split: dict[str, Series]  # percent in force while each iteration ran
    final_split: dict[str, int]  # in force now
    metrics: list[MetricView]
    evidence: Evidence
    outcome: str  # the decision in words
    reason: str
    notes: list[str]
    timeline: list[Moment]


def build(experiment: Experiment) -> Report:
    status = experiment.status
    analysis = status.analysis if status else None
    records = _records(experiment)
    versions = [v.name for v in experiment.versions]
    iterations = [r["iteration"] for r in records]
    details = (analysis.details if analysis else None) or {}
    kept = analysis.history if analysis and isinstance(analysis.history, dict) else {}
    alpha = kept.get("alpha", details.get("alpha"))
    strategy = experiment.spec.strategy
    return Report(
        name=experiment.metadata.name or "",
        namespace=experiment.namespace,
        target=experiment.spec.target,
        testing_pattern=strategy.testing_pattern,
        deployment_pattern=strategy.deployment_pattern or "Progressive",
        algorithm=str(details.get("algorithm") or "unknown"),
        versions=versions,
        stage=(status.stage if status else None) or "not started",
        iterations=iterations,
        dropped=kept.get("dropped") if isinstance(kept.get("dropped"), int) else 0,
        split={v: [_split(r).get(v) for r in records] for v in versions},
        final_split={w.name: w.value for w in (status.current_weight_distribution or [])}
        if status
        else {},
        metrics=_metrics(experiment, records),
        evidence=_evidence(versions, records, alpha),
        outcome=_outcome(experiment),
        reason=str((analysis.decision or {}).get("reason") or "") if analysis else "",
        notes=_notes(details),
        timeline=_timeline(experiment, records),
    )


def _records(experiment: Experiment) -> list[dict[str, Any]]:
    status = experiment.status
    analysis = status.analysis if status else None
    if analysis is None:
        return []
    kept = analysis.history if isinstance(analysis.history, dict) else {}
    records = [r for r in kept.get("iterations") or [] if _is_record(r)]
    if records:
        return records
    # written before `history`: the Bayesian one, and the latest analysis in full
    older = [r for r in (analysis.details or {}).get("history") or [] if _is_record(r)]
    iteration = analysis.iteration or (status.completed_iterations if status else None) or 0
    latest = history.record(analysis.to_wire(), None, iteration, _analysis_time(experiment))
    return [*(r for r in older if r["iteration"] < iteration), latest]


def _is_record(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("iteration"), int)


def _analysis_time(experiment: Experiment) -> str:
    analysis = experiment.status.analysis if experiment.status else None
    block = analysis.weights if analysis else None
    return (block.timestamp if block else None) or ""


def _split(record: Mapping[str, Any]) -> dict[str, float]:
    split = record.get("split") or record.get("weights") or {}
    return {k: _number(v) for k, v in split.items()} if isinstance(split, dict) else {}


def _metrics(experiment: Experiment, records: Sequence[Mapping[str, Any]]) -> list[MetricView]:
    criteria = experiment.spec.criteria
    namespace = experiment.namespace
    roles: dict[str, str] = {}
    limits: dict[str, tuple[float | None, float | None]] = {}
    if criteria is not None:
        if criteria.request_count:
            roles[str(resolve(criteria.request_count, namespace))] = "request count"
        for indicator in criteria.indicators or []:
            roles[str(resolve(indicator, namespace))] = "indicator"
        for reward in criteria.rewards or []:
            direction = "higher" if reward.preferred_direction == "High" else "lower"
            roles[str(resolve(reward.metric, namespace))] = f"reward ({direction} is better)"
        for objective in criteria.objectives or []:
            key = str(resolve(objective.metric, namespace))
            roles[key] = "objective"
            limits[key] = (_limit(objective.lower_limit), _limit(objective.upper_limit))
    status = experiment.status
    units = {
        m.name: ((m.metric_obj or {}).get("spec") or {}).get("units")
        for m in ((status.metrics if status else None) or [])
    }
    keys = dict.fromkeys([*roles, *(k for r in records for k in r.get("metrics") or {})])
    versions = [v.name for v in experiment.versions]
    views = []
    for key in keys:
        bands = []
        for version in versions:
            triples = [((r.get("metrics") or {}).get(key) or {}).get(version) for r in records]
            triples = [t if isinstance(t, list) and len(t) == 3 else [None] * 3 for t in triples]
            bands.append(
                Band(
                    version,
                    [_number(t[0]) for t in triples],
                    [_number(t[1]) for t in triples],
                    [_number(t[2]) for t in triples],
                )
            )
        lower, upper = limits.get(key, (None, None))
        unit = units.get(key)
        views.append(
            MetricView(key, roles.get(key, ""), str(unit) if unit else None, lower, upper, bands)
        )
    return views


def _evidence(
    versions: Sequence[str], records: Sequence[Mapping[str, Any]], alpha: object
) -> Evidence:
    def per_version(name: str) -> dict[str, Series]:
        if not any(isinstance(r.get(name), dict) for r in records):
            return {}
        return {v: [_number((r.get(name) or {}).get(v)) for r in records] for v in versions}

    e_values: dict[str, dict[str, tuple[Series, Series]]] = {}
    for version in versions:
        objectives = dict.fromkeys(
            o for r in records for o in ((r.get("eValues") or {}).get(version) or {})
        )
        for objective in objectives:
            pairs = [
                ((r.get("eValues") or {}).get(version) or {}).get(objective) or [None, None]
                for r in records
            ]
            e_values.setdefault(version, {})[objective] = (
                [_log(p[0]) for p in pairs],
                [_log(p[1]) for p in pairs],
            )
    labels = dict.fromkeys(c for r in records for c in (r.get("comparisons") or {}))
    comparisons = {c: [_log((r.get("comparisons") or {}).get(c)) for r in records] for c in labels}
    met: dict[str, Series] = {}
    if any(r.get("objectivesMet") for r in records) and not e_values:
        for version in versions:
            shares = []
            for r in records:
                verdicts = (r.get("objectivesMet") or {}).get(version)
                shares.append(sum(map(bool, verdicts)) / len(verdicts) if verdicts else None)
            met[version] = shares
    threshold = math.log(1 / alpha) if isinstance(alpha, int | float) and 0 < alpha < 1 else None
    return Evidence(per_version("pBest"), e_values, comparisons, met, threshold)


def _outcome(experiment: Experiment) -> str:
    status = experiment.status
    if status is None or status.stage in (None, "Waiting"):
        return "Not started yet."
    analysis = status.analysis
    decision = (analysis.decision if analysis else None) or {}
    action, version = decision.get("action"), decision.get("version")
    failed = next((c for c in status.conditions or [] if c.type == "Failed"), None)
    if failed is not None and failed.status == "True":
        return f"Failed: {failed.reason}: {failed.message}"
    words = {
        "promote": f"Promote {version}: it won.",
        "rollback": f"Roll back to {version}.",
        "no-winner": f"No winner: {version or 'the baseline'} keeps the traffic.",
        "continue": "Still running: no decision yet.",
    }
    said = words.get(str(action), f"Decision: {action}")
    done = status.stage == "Completed"
    return f"{said} (stage {status.stage}{'' if done else ', in progress'})"


def _notes(details: Mapping[str, Any]) -> list[str]:
    notes = []
    if details.get("outcome") == "no-data":
        notes.append("Ended for lack of data: a version had no evidence for too many iterations.")
    weights = details.get("weights") or {}
    weights = weights if isinstance(weights, dict) else {}
    if isinstance(weights.get("basis"), str):
        notes.append(f"Split: {weights['basis']}")
    held = weights.get("held") or {}
    notes += [f"Held {v}: {why}" for v, why in held.items()] if isinstance(held, dict) else []
    more = details.get("moreNeeded") or {}
    if isinstance(more, dict):
        notes += [f"To settle {v}: {text} (rough)" for v, text in more.items()]
    return notes


def _timeline(experiment: Experiment, records: Sequence[Mapping[str, Any]]) -> list[Moment]:
    status = experiment.status
    if status is None:
        return []
    moments = []
    if status.init_time:
        moments.append(Moment(status.init_time, "created"))
    if status.start_time:
        moments.append(Moment(status.start_time, "started"))
    for condition in status.conditions or []:
        if condition.last_transition_time and condition.reason != "ExperimentInitialized":
            moments.append(
                Moment(
                    condition.last_transition_time,
                    f"{condition.type} = {condition.status}",
                    f"{condition.reason}: {condition.message}",
                )
            )
    for r in records:
        chosen = r.get("weights") or {}
        detail = ", ".join(f"{v} {w}%" for v, w in chosen.items()) if chosen else ""
        action = r.get("action") or "analysed"
        target = f" {r['version']}" if r.get("version") else ""
        moments.append(
            Moment(
                str(r.get("time") or ""),
                f"iteration {r['iteration']}: {action}{target}",
                f"split chosen: {detail}" if detail else "",
            )
        )
    return sorted(moments, key=lambda m: m.time)


def _limit(value: object) -> float | None:
    try:
        return None if value is None else parse_quantity(value)  # type: ignore[arg-type]
    except ValueError:
        return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _log(value: object) -> float | None:
    """A log e-value: a number, ±inf as spelled in the status (the plot clips them), or None."""
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    return _number(value)
