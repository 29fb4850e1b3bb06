"""Live progress of a running experiment, one line per step, from its status alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iter8.api.defaults import max_iterations
from iter8.api.experiment import Experiment
from iter8.lifecycle.status import is_true


@dataclass
class Progress:
    """Remembers what it last reported, so that each change is told once."""

    seen: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def lines(self, experiment: Experiment) -> list[str]:
        status = experiment.status
        if status is None:
            return []
        name = f"{experiment.namespace}/{experiment.metadata.name}"
        analysis = status.analysis
        decision = (analysis.decision or {}) if analysis else {}
        state = (
            status.stage,
            status.completed_iterations,
            analysis.iteration if analysis else None,
        )
        if self.seen.get(name) == state:
            return []
        self.seen[name] = state
        if status.stage == "Completed":
            outcome = "failed" if is_true(status, "Failed") else "completed"
            return [f"{name}: {outcome}: {status.message or ''}".rstrip()]
        if status.stage in ("Waiting", "Initializing") or analysis is None or not decision:
            return [f"{name}: {status.stage}" + (f" ({status.message})" if status.message else "")]
        return [_iteration_line(name, experiment, status.stage or "", decision)]


def _iteration_line(name: str, experiment: Experiment, stage: str, decision: dict[str, Any]) -> str:
    status = experiment.status
    assert status is not None and status.analysis is not None
    analysis = status.analysis
    parts = [f"{name}: iteration {analysis.iteration}/{max_iterations(experiment)}"]
    weights = analysis.weights.data if analysis.weights else None
    if weights:
        parts.append("weights " + " ".join(f"{w['name']}={w['value']}" for w in weights))
    p_best = {
        v: p for v, p in ((analysis.details or {}).get("pBest") or {}).items() if p is not None
    }
    if p_best:  # none for a version without evidence
        parts.append("P(best) " + " ".join(f"{v}={p:.2f}" for v, p in p_best.items()))
    action = decision.get("action")
    parts.append(f"decision {action}" + (f" {decision['version']}" if action == "promote" else ""))
    if stage == "Finishing" and decision.get("reason"):
        parts.append(f"({decision['reason']})")
    return "  ".join(parts)
