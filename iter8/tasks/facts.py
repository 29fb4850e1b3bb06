"""What the experiment's status says, in the forms tasks need: the `if:` facts, the version
recommended for promotion, and the summary notifications carry. Pure functions."""

from __future__ import annotations

from typing import Any

from iter8.api.experiment import Experiment, VersionDetail


def winner_data(experiment: Experiment) -> dict[str, Any]:
    analysis = experiment.status.analysis if experiment.status else None
    block = analysis.winner_assessment if analysis else None
    data = block.data if block else None
    return data if isinstance(data, dict) else {}


def condition_facts(experiment: Experiment) -> dict[str, bool]:
    """`WinnerFound()`, and `CandidateWon()`: true only with exactly one candidate that is the
    winner, so always false for A/B/N (Iter8 v2 §1.6)."""
    data = winner_data(experiment)
    found = data.get("winnerFound") is True
    candidates = experiment.versions[1:]
    won = found and len(candidates) == 1 and data.get("winner") == candidates[0].name
    return {"WinnerFound": found, "CandidateWon": won}


def recommended_version(experiment: Experiment) -> VersionDetail | None:
    name = experiment.status.version_recommended_for_promotion if experiment.status else None
    return next((v for v in experiment.versions if v.name == name), None)


def recommended_variables(experiment: Experiment) -> dict[str, str]:
    """The variables of the version recommended for promotion (Iter8's `{{ .promote }}` source);
    its name is available as `name` unless a variable says otherwise."""
    version = recommended_version(experiment)
    if version is None:
        raise LookupError("no version is recommended for promotion yet")
    return {"name": version.name, **{v.name: v.value for v in version.variables or []}}


def summary(experiment: Experiment) -> dict[str, Any]:
    """Iter8 v2's notification summary."""
    data = winner_data(experiment)
    status = experiment.status
    weights = status.analysis.weights if status and status.analysis else None
    return {
        "winnerFound": data.get("winnerFound") is True,
        "winner": data.get("winner"),
        "versionRecommendedForPromotion": status.version_recommended_for_promotion
        if status
        else None,
        "lastRecommendedWeights": weights.data if weights else None,
    }


def summary_lines(experiment: Experiment) -> list[str]:
    """The summary in words, for chat messages."""
    facts = summary(experiment)
    status = experiment.status
    lines = [
        f"Experiment {experiment.namespace}/{experiment.metadata.name} "
        f"({experiment.spec.strategy.testing_pattern}, target {experiment.spec.target})",
        f"Stage: {(status.stage if status else None) or 'unknown'}; completed iterations: "
        f"{(status.completed_iterations if status else None) or 0}",
        f"Winner: {facts['winner'] if facts['winnerFound'] else 'not found'}",
        f"Recommended for promotion: {facts['versionRecommendedForPromotion'] or 'none yet'}",
    ]
    weights = facts["lastRecommendedWeights"]
    if isinstance(weights, list) and weights:
        split = ", ".join(
            f"{w.get('name')}={w.get('value')}" for w in weights if isinstance(w, dict)
        )
        lines.append(f"Weights: {split}")
    if status and status.message:
        lines.append(f"Status: {status.message}")
    return lines
