"""What every algorithm shares: point values per metric and version, objectives checked against
them, feasibility, and the Iter8 v2 `status.analysis` shapes (iter8-v2.md §1.2, §3.2–3.4).

Metrics are always keyed by the resolved `namespace/name`, never by the reference as written,
so a bare name in the criteria finds its data (v2 missed it, §2.1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from iter8.analytics.algorithm import AnalysisInput, AnalysisResult
from iter8.analytics.observations import Observation
from iter8.api.experiment import Experiment, Objective
from iter8.api.quantity import parse_quantity, quantity_value
from iter8.api.references import resolve

PointValues = dict[str, dict[str, float | None]]  # metric key → version → value (None: no data)
BLOCKS = ("aggregatedMetrics", "versionAssessments", "winnerAssessment", "weights")


@dataclass
class Messages:
    """v2's block message: always `Error: …; Warning: …; Info: …`, each level comma-joined."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)

    def render(self) -> str:
        return "; ".join(
            f"{level}: {', '.join(items)}"
            for level, items in (
                ("Error", self.errors),
                ("Warning", self.warnings),
                ("Info", self.infos),
            )
        )


@dataclass(frozen=True)
class Aggregated:
    values: PointValues
    sample_sizes: dict[str, dict[str, float]]
    missing: list[dict[str, Any]]  # one entry per metric and version the backend did not give
    messages: Messages


def metric_key(reference: str, experiment: Experiment) -> str:
    return _key(reference, experiment.namespace)


@lru_cache(maxsize=4096)
def _key(reference: str, namespace: str) -> str:
    """A reference resolved once: every step resolves every criterion's metric."""
    return str(resolve(reference, namespace))


def criteria_keys(experiment: Experiment) -> list[str]:
    """The metrics the criteria name, resolved, in v2's order, each once."""
    criteria = experiment.spec.criteria
    if criteria is None:
        return []
    references = [
        *([criteria.request_count] if criteria.request_count else []),
        *(r.metric for r in criteria.rewards or []),
        *(criteria.indicators or []),
        *(o.metric for o in criteria.objectives or []),
    ]
    return list(dict.fromkeys(metric_key(r, experiment) for r in references))


def aggregate(given: AnalysisInput) -> Aggregated:
    """This iteration's value per metric and version; where the backend gave none, the value of
    the previous analysis (v2 §2.6), else None. A null previous value is no data, not a crash."""
    experiment = given.experiment
    keys = list(dict.fromkeys([*criteria_keys(experiment), *given.metrics, *given.observations]))
    versions = [v.name for v in experiment.versions]
    previous = _previous_values(experiment)
    result = Aggregated({}, {}, [], Messages())
    for key in keys:
        observed = given.observations.get(key, {})
        extra = sorted(set(observed) - set(versions))  # load-only "pseudo" versions, v2 kept them
        result.values[key] = {}
        for version in [*versions, *extra]:
            observation = observed.get(version)
            if observation is not None and _usable(observation):
                result.values[key][version] = observation.value
                if _count(observation.sample_size):
                    result.sample_sizes.setdefault(key, {})[version] = observation.sample_size
                continue
            fallback = previous.get(key, {}).get(version)
            result.values[key][version] = fallback
            result.messages.errors.append(
                f"Error from metrics backend for metric: {key} and version: {version}"
            )
            result.missing.append(
                {
                    "metric": key,
                    "version": version,
                    "outcome": observation.outcome if observation else "missing",
                    "message": observation.message if observation else None,
                    "fallback": fallback,
                }
            )
    return result


def _usable(observation: Observation) -> bool:
    """Known and finite: v2 refused NaN from a backend, and infinity compares as nonsense."""
    return observation.known and math.isfinite(observation.value or 0.0)


def _count(size: float | None) -> bool:
    """A sample size worth reporting: a finite, non-negative number."""
    return size is not None and math.isfinite(size) and size >= 0


def _previous_values(experiment: Experiment) -> PointValues:
    status = experiment.status
    block = status.analysis.aggregated_metrics if status and status.analysis else None
    data = block.data if block is not None else None
    found: PointValues = {}
    if not isinstance(data, Mapping):
        return found
    for key, metric in data.items():
        per_version = metric.get("data") if isinstance(metric, Mapping) else None
        if not isinstance(per_version, Mapping):
            continue
        for version, entry in per_version.items():
            value = entry.get("value") if isinstance(entry, Mapping) else None
            found.setdefault(key, {})[version] = _number(value)
    return found


def _number(value: object) -> float | None:
    if value is None:
        return None
    try:
        return parse_quantity(value)  # type: ignore[arg-type]
    except ValueError:
        return None


def render_value(value: float) -> int | str:
    """v2 returned metric values as `str(float)`, integers as ints."""
    return int(value) if float(value).is_integer() else str(float(value))


def aggregated_metrics_data(aggregated: Aggregated) -> dict[str, Any]:
    """`{<ns/name>: {data: {<version>: {value, sampleSize?}}}}`, v2's `aggregatedMetrics.data`."""
    rendered: dict[str, Any] = {}
    for key, per_version in aggregated.values.items():
        sizes = aggregated.sample_sizes.get(key, {})
        entries: dict[str, Any] = {}
        for version, value in per_version.items():
            entry: dict[str, Any] = {"value": None if value is None else render_value(value)}
            if version in sizes:
                entry["sampleSize"] = round(sizes[version])
            entries[version] = entry
        rendered[key] = {"data": entries}
    for gap in aggregated.missing:  # beyond v2: why there is no fresh value, in the backend's words
        entry = rendered.get(gap["metric"], {}).get("data", {}).get(gap["version"])
        if entry is not None:
            entry["message"] = gap.get("message") or gap.get("outcome") or "no value"
    return rendered


def limits(objective: Objective) -> tuple[float | None, float | None]:
    lower, upper = objective.lower_limit, objective.upper_limit
    return (
        None if lower is None else quantity_value(lower),
        None if upper is None else quantity_value(upper),
    )


def satisfies(objective: Objective, value: float | None) -> bool:
    """`lower ≤ value ≤ upper`, both inclusive, either absent; no value is not satisfied."""
    if value is None:
        return False
    lower, upper = limits(objective)
    return (lower is None or lower <= value) and (upper is None or value <= upper)


def describe_objective(objective: Objective, key: str) -> str:
    lower, upper = objective.lower_limit, objective.upper_limit
    text = key if upper is None else f"{key} ≤ {upper}"
    return text if lower is None else f"{lower} ≤ {text}"


def objective_report(experiment: Experiment, values: PointValues, version: str) -> list[str]:
    """Each objective with this version's number, e.g. `ns/error-rate 0.02 > 0.01`."""
    objectives = (experiment.spec.criteria.objectives if experiment.spec.criteria else None) or []
    report: list[str] = []
    for objective in objectives:
        key = metric_key(objective.metric, experiment)
        value = values.get(key, {}).get(version)
        if value is None:
            report.append(f"{describe_objective(objective, key)}: no data")
            continue
        mark = "ok" if satisfies(objective, value) else "fails"
        report.append(f"{describe_objective(objective, key)}: {value:g} {mark}")
    return report


def version_assessments(
    experiment: Experiment, values: PointValues, messages: Messages | None = None
) -> dict[str, list[bool]]:
    """One boolean per objective (spec order) per version; `{}` without objectives (v2 §3.3)."""
    objectives = (experiment.spec.criteria.objectives if experiment.spec.criteria else None) or []
    if not objectives:
        return {}
    result: dict[str, list[bool]] = {}
    for version in (v.name for v in experiment.versions):
        result[version] = []
        for objective in objectives:
            key = metric_key(objective.metric, experiment)
            value = values.get(key, {}).get(version)
            if value is None and messages is not None:
                messages.warnings.append(f"no value of metric {key} for version {version}")
            result[version].append(satisfies(objective, value))
    return result


def feasible_versions(experiment: Experiment, assessments: Mapping[str, list[bool]]) -> list[str]:
    """Versions meeting every objective, in spec order; all of them without objectives (§3.4)."""
    names = [v.name for v in experiment.versions]
    if not assessments:
        return names
    return [name for name in names if all(assessments.get(name, [False]))]


def status_analysis(result: AnalysisResult, provenance: str, timestamp: str) -> dict[str, Any]:
    """`status.analysis` as Iter8 v2 wrote it, plus `decision` and `details` beside the blocks."""
    winner = result.winner_assessment
    winner_data: dict[str, Any] = {"winnerFound": winner.winner_found}
    if winner.winner is not None:
        winner_data["winner"] = winner.winner
    winner_data["bestVersions"] = list(winner.best_versions)  # v2 analytics sent it too
    data: dict[str, Any] = {
        "aggregatedMetrics": result.aggregated_metrics,
        "versionAssessments": result.version_assessments,
        "winnerAssessment": winner_data,
        "weights": [{"name": w.name, "value": w.value} for w in result.weights],
    }
    rendered: dict[str, Any] = {}
    for name in BLOCKS:
        block: dict[str, Any] = {"provenance": provenance, "timestamp": timestamp}
        if name in result.messages:
            block["message"] = result.messages[name]
        block["data"] = data[name]
        rendered[name] = block
    rendered["decision"] = result.decision.model_dump(exclude_none=True)
    if result.message:
        rendered["message"] = result.message
    rendered["details"] = result.details
    return rendered
