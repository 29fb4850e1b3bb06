"""Iter8 v2's analytics, reproduced: point values, SLO feasibility, a winner per testing pattern,
and an ε-greedy split with a per-candidate ramp (iter8-v2.md §3.2–3.6).

It is the baseline the Bayesian algorithm must beat, so it keeps v2's behaviour, including its
weaknesses (no uncertainty, exact ties, missing data pulls traffic), with two deliberate fixes:
previous weights are matched by version name, not position (§3.9 quirk 1), and criteria find
their metrics by resolved `ns/name` (§2.1). A null previous value is no data, not a crash (§2.6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from iter8.analytics.algorithm import AnalysisInput, AnalysisResult, Decision, WinnerAssessment
from iter8.analytics.assessment import (
    Messages,
    PointValues,
    aggregate,
    aggregated_metrics_data,
    feasible_versions,
    metric_key,
    objective_report,
    version_assessments,
)
from iter8.analytics.rounding import randomized_round
from iter8.api.defaults import defaulted_view, max_iterations, rollback_on_failure
from iter8.api.experiment import Experiment, VersionWeight

EXPLORATION_PERCENT = 10.0  # v2's exploration_traffic_percentage: ε = 0.1
CONFORMANCE_WEIGHTS = "weight computation is not applicable to a conformance experiment"


@dataclass(frozen=True)
class Winner:
    assessment: WinnerAssessment
    why: str  # in words and numbers, for the decision's reason
    messages: Messages


def assess_winner(experiment: Experiment, values: PointValues, feasible: Sequence[str]) -> Winner:
    """v2's winner rule per testing pattern (§3.5)."""
    names = [v.name for v in experiment.versions]
    baseline, candidates = names[0], names[1:]
    pattern = experiment.spec.strategy.testing_pattern
    if pattern == "Conformance":
        if baseline in feasible:
            return _found(baseline, f"{baseline} meets every objective")
        return _none(f"{baseline} does not meet every objective")
    if pattern == "Canary":
        passing = [c for c in candidates if c in feasible]
        if passing:
            return _found(passing[0], f"candidate {passing[0]} meets every objective")
        if baseline in feasible:
            return _found(baseline, f"no candidate meets every objective; baseline {baseline} does")
        return _none("no version meets every objective")
    return _best_reward(experiment, values, feasible)


def _best_reward(experiment: Experiment, values: PointValues, feasible: Sequence[str]) -> Winner:
    """A/B and A/B/N: the feasible version with the best `rewards[0]`; an exact tie is no winner."""
    rewards = (experiment.spec.criteria.rewards if experiment.spec.criteria else None) or []
    if not rewards:
        return _none("no reward to compare versions by", warning=True)
    reward = rewards[0]
    key = metric_key(reward.metric, experiment)
    if not feasible:
        return _none("no version meets every objective")
    scored: dict[str, float] = {}
    skipped: list[str] = []
    for version in feasible:
        value = values.get(key, {}).get(version)
        if value is None:
            skipped.append(f"no value of reward {key} for feasible version {version}")
        else:
            scored[version] = value
    if not scored:
        winner = _none(f"no feasible version has a value of reward {key}", warning=True)
        winner.messages.warnings[:0] = skipped
        return winner
    pick = max if reward.preferred_direction == "High" else min
    best_value = pick(scored.values())
    best = [v for v, x in scored.items() if x == best_value]
    numbers = ", ".join(f"{v} {x:g}" for v, x in scored.items())
    direction = "highest" if reward.preferred_direction == "High" else "lowest"
    if len(best) == 1:
        winner = _found(
            best[0], f"{best[0]} has the {direction} {key} among feasible versions ({numbers})"
        )
    else:
        tie = f"{', '.join(best)} tie on {key} = {best_value:g}, so no winner ({numbers})"
        winner = Winner(WinnerAssessment(winner_found=False, best_versions=best), tie, Messages())
        winner.messages.infos.append(tie)
    winner.messages.warnings.extend(skipped)
    return winner


def _found(version: str, why: str) -> Winner:
    assessment = WinnerAssessment(winner_found=True, winner=version, best_versions=[version])
    return Winner(assessment, why, Messages(infos=[f"winning version: {version} ({why})"]))


def _none(why: str, warning: bool = False) -> Winner:
    messages = Messages(warnings=[why]) if warning else Messages(infos=[f"no winner: {why}"])
    return Winner(WinnerAssessment(winner_found=False), why, messages)


def previous_weights(experiment: Experiment) -> dict[str, int]:
    """The split in force, by version name; none recorded means all traffic on the baseline."""
    status = experiment.status
    current = status.current_weight_distribution if status else None
    names = [v.name for v in experiment.versions]
    if not current:
        return {name: 100 if i == 0 else 0 for i, name in enumerate(names)}
    by_name = {w.name: w.value for w in current}
    return {name: by_name.get(name, 0) for name in names}


def target_weights(names: Sequence[str], best: Sequence[str]) -> list[float]:
    """ε of the traffic spread evenly, the rest on the best versions (the baseline if none), %."""
    best_here = [n for n in names if n in best]
    exploit = [1 / len(best_here) if n in best_here else 0.0 for n in names]
    if not best_here:
        exploit = [1.0] + [0.0] * (len(names) - 1)
    explore = EXPLORATION_PERCENT / len(names)
    return [explore + (100 - EXPLORATION_PERCENT) * x for x in exploit]


def capped_weights(
    names: Sequence[str],
    target: Sequence[float],
    previous: Mapping[str, int],
    max_weight: float,
    max_increment: float,
) -> list[float]:
    """Each candidate may rise at most `max_increment` and never above `max_weight`; the excess
    goes to the baseline. Decreases are not limited; caps are per candidate, not in total."""
    capped = list(target)
    for i in range(1, len(names)):
        rise = capped[i] - previous.get(names[i], 0)
        excess = max(0.0, rise - max_increment, capped[i] - max_weight)
        capped[i] -= excess
        capped[0] += excess
    return capped


def analyze(given: AnalysisInput) -> AnalysisResult:
    experiment = defaulted_view(given.experiment)  # read only: its status is not copied
    if not experiment.versions:
        raise ValueError("the experiment has no spec.versionInfo: nothing to analyze")
    aggregated = aggregate(AnalysisInput(experiment, given.metrics, given.observations, given.seed))
    assessment_messages = Messages()
    assessments = version_assessments(experiment, aggregated.values, assessment_messages)
    feasible = feasible_versions(experiment, assessments)
    winner = assess_winner(experiment, aggregated.values, feasible)
    weights, weight_details, weights_message = _weights(experiment, winner.assessment, given.seed)
    return AnalysisResult(
        aggregated_metrics=aggregated_metrics_data(aggregated),
        version_assessments=assessments,
        winner_assessment=winner.assessment,
        weights=weights,
        decision=decide(experiment, aggregated.values, assessments, winner),
        details={
            "algorithm": Iter8V2.name,
            "iteration": _iteration(experiment),
            "maxIterations": max_iterations(experiment),
            "feasibleVersions": feasible,
            "bestVersions": winner.assessment.best_versions,
            "weights": weight_details,
            "missingData": aggregated.missing,
            "seed": given.seed,
        },
        message=winner.why,
        messages={
            "aggregatedMetrics": aggregated.messages.render(),
            "versionAssessments": assessment_messages.render(),
            "winnerAssessment": winner.messages.render(),
            "weights": weights_message,
        },
    )


def _weights(
    experiment: Experiment, winner: WinnerAssessment, seed: int
) -> tuple[list[VersionWeight], dict[str, object] | None, str]:
    if experiment.spec.strategy.testing_pattern == "Conformance":
        return [], None, CONFORMANCE_WEIGHTS
    names = [v.name for v in experiment.versions]
    limits = experiment.spec.strategy.weights
    assert limits is not None  # with_defaults filled it in
    max_weight = limits.max_candidate_weight or 0
    max_increment = limits.max_candidate_weight_increment or 0
    previous = previous_weights(experiment)
    target = target_weights(names, winner.best_versions)
    capped = capped_weights(names, target, previous, max_weight, max_increment)
    rounded = randomized_round(capped, 100, np.random.default_rng(seed))
    details: dict[str, object] = {
        "previous": previous,
        "target": dict(zip(names, target, strict=True)),
        "capped": dict(zip(names, capped, strict=True)),
        "explorationPercent": EXPLORATION_PERCENT,
        "maxCandidateWeight": max_weight,
        "maxCandidateWeightIncrement": max_increment,
    }
    weights = [VersionWeight(name=n, value=v) for n, v in zip(names, rounded, strict=True)]
    return weights, details, "Info: all ok"


def _iteration(experiment: Experiment) -> int:
    """The iteration this analysis is for, counting from 1."""
    completed = experiment.status.completed_iterations if experiment.status else None
    return (completed or 0) + 1


def decide(
    experiment: Experiment,
    values: PointValues,
    assessments: Mapping[str, list[bool]],
    winner: Winner,
) -> Decision:
    """v2's controller: roll back on a failed rollback objective (§4 step 12.6), else decide only
    at the last iteration (v2 never stops early)."""
    baseline = experiment.versions[0].name
    failures = _rollback_failures(experiment, values, assessments)
    if failures:
        return Decision(
            action="rollback",
            version=baseline,
            reason=f"objectives with rollback_on_failure are not met: {'; '.join(failures)}",
        )
    iteration, total = _iteration(experiment), max_iterations(experiment)
    progress = f"iteration {iteration} of {total}"
    found = winner.assessment
    if iteration < total:
        so_far = f"leading: {found.winner}" if found.winner_found else "no winner yet"
        return Decision(action="continue", reason=f"{progress}, {so_far}: {winner.why}")
    if found.winner_found and found.winner is not None:
        return Decision(
            action="promote",
            version=found.winner,
            reason=f"{progress} (the last): {found.winner} wins: {winner.why}",
        )
    return Decision(
        action="no-winner",
        version=baseline,
        reason=f"{progress} (the last): no winner, keeping baseline {baseline}: {winner.why}",
    )


def _rollback_failures(
    experiment: Experiment, values: PointValues, assessments: Mapping[str, list[bool]]
) -> list[str]:
    """Failed objectives that roll back, for any version (baseline too; no data counts as failed)."""
    objectives = (experiment.spec.criteria.objectives if experiment.spec.criteria else None) or []
    pattern = experiment.spec.strategy.deployment_pattern
    failures: list[str] = []
    for version, results in assessments.items():
        report = objective_report(experiment, values, version)
        for objective, ok, line in zip(objectives, results, report, strict=True):
            if not ok and rollback_on_failure(objective, pattern):
                failures.append(f"{version}: {line}")
    return failures


@dataclass(frozen=True)
class Iter8V2:
    name: ClassVar[str] = "iter8-v2"

    def analyze(self, given: AnalysisInput) -> AnalysisResult:
        return analyze(given)


ALGORITHM = Iter8V2()
