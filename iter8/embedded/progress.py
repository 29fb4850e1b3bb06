"""Live progress of a running experiment, one line per step, from its status alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iter8.api.defaults import max_iterations
from iter8.api.experiment import Experiment
from iter8.describe import failed_queries
from iter8.lifecycle.control import CONDITION_AWAITING_APPROVAL, CONDITION_PAUSED
from iter8.lifecycle.status import condition, is_true


@dataclass
class Progress:
    """Remembers the line it last reported per experiment, so that each change is told once
    (an iteration is analysed, then routed: two writes, one line)."""

    seen: dict[str, str] = field(default_factory=dict)

    def lines(self, experiment: Experiment) -> list[str]:
        name = f"{experiment.namespace}/{experiment.metadata.name}"
        line = _line(name, experiment)
        if line is None or self.seen.get(name) == line:
            return []
        self.seen[name] = line
        return [line]


def _line(name: str, experiment: Experiment) -> str | None:
    status = experiment.status
    if status is None:
        return None
    analysis = status.analysis
    decision = (analysis.decision or {}) if analysis else {}
    if status.stage == "Completed":
        outcome = "failed" if is_true(status, "Failed") else "completed"
        return f"{name}: {outcome}: {status.message or ''}".rstrip()
    for kind, label in ((CONDITION_PAUSED, "paused"), (CONDITION_AWAITING_APPROVAL, "waiting")):
        held = condition(status, kind)
        if held is not None and held.status == "True":
            return f"{name}: {label}: {held.message}"
    if status.stage in ("Waiting", "Initializing") or analysis is None or not decision:
        return f"{name}: {status.stage}" + (f" ({status.message})" if status.message else "")
    return _iteration_line(name, experiment, status.stage or "", decision)


def _iteration_line(name: str, experiment: Experiment, stage: str, decision: dict[str, Any]) -> str:
    status = experiment.status
    assert status is not None and status.analysis is not None
    analysis = status.analysis
    parts = [f"{name}: iteration {analysis.iteration}/{max_iterations(experiment)}"]
    parts.extend(_split(experiment))
    p_best = {
        v: p for v, p in ((analysis.details or {}).get("pBest") or {}).items() if p is not None
    }
    if p_best:  # none for a version without evidence
        parts.append("P(best) " + " ".join(f"{v}={p:.2f}" for v, p in p_best.items()))
    action = decision.get("action")
    parts.append(f"decision {action}" + (f" {decision['version']}" if action == "promote" else ""))
    failed = failed_queries(experiment)
    if failed:
        key, version, message = failed[0]
        more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
        parts.append(f"queries failed: {key} for {version}: {message}{more}")
    if stage == "Finishing" and decision.get("reason"):
        parts.append(f"({decision['reason']})")
    return "  ".join(parts)


def _split(experiment: Experiment) -> list[str]:
    """A Progressive ramp routes what the analysis recommends right after: the recommendation.
    FixedSplit and BlueGreen never route it (the split holds until the switch or the end), so
    there the split in force: the recommendation read as traffic that had moved."""
    status = experiment.status
    assert status is not None and status.analysis is not None
    if (experiment.spec.strategy.deployment_pattern or "Progressive") == "Progressive":
        weights = status.analysis.weights
        shown = [(w["name"], w["value"]) for w in (weights.data if weights else None) or []]
        label = "weights"
    else:
        shown = [(w.name, w.value) for w in status.current_weight_distribution or []]
        label = "split"
    return [f"{label} " + " ".join(f"{name}={value}" for name, value in shown)] if shown else []
