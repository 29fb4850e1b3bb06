"""`bayesian`, the default algorithm: posteriors for every metric, Thompson-sampled traffic, and
anytime-valid stopping, so looking every iteration never inflates false promotions.

In five lines:
1. every observation becomes a posterior (Beta for rates, Normal for means, Dirichlet over a
   histogram's buckets for percentiles, a wide fixed Normal for a bare value; `bayes.beliefs`);
2. joint posterior draws give P(objective holds), P(feasible) and P(best) per version;
3. traffic follows P(best feasible) (Thompson sampling), with a floor and Iter8's caps;
4. a promotion needs e-values ≥ 1/α (mixture likelihood ratios; `bayes.sequential`), so
   false promotions stay ≤ α under continuous monitoring;
5. rollback is quicker: a candidate proven to fail, or unlikely to ever pass, is dropped.
The pieces live in `iter8.analytics.bayes`; this module wires them and renders the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from iter8.analytics import assessment
from iter8.analytics.algorithm import AnalysisInput, AnalysisResult, WinnerAssessment
from iter8.analytics.bayes import allocation, decide, report, srm
from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.draws import draw_all
from iter8.analytics.bayes.inputs import gather
from iter8.analytics.bayes.objectives import Check, Limits, check, holds_mask, soft_mask
from iter8.analytics.bayes.relative import check_relative, relative_limits, relative_mask
from iter8.analytics.bayes.rewards import Comparison, compare
from iter8.analytics.bayes.settings import Settings, settings_from_annotations
from iter8.analytics.bayes.state import ALGORITHM_NAME, Carried, previous
from iter8.api.defaults import rollback_on_failure, with_defaults
from iter8.api.experiment import Experiment, VersionWeight

Draws = dict[str, dict[str, np.ndarray]]


@dataclass(frozen=True)
class Criteria:
    objectives: list[Limits]
    relative: list[Limits]  # candidates against the baseline (`bayes.relative`)
    rewards: list[tuple[str, bool]]  # (key, higher is better)
    request_key: str | None
    keys: list[str]  # every metric the criteria name, resolved


def criteria_of(experiment: Experiment) -> Criteria:
    criteria = experiment.spec.criteria
    pattern = experiment.spec.strategy.deployment_pattern
    objectives = []
    for objective in (criteria.objectives if criteria else None) or []:
        lower, upper = assessment.limits(objective)
        key = assessment.metric_key(objective.metric, experiment)
        objectives.append(Limits(key, lower, upper, rollback_on_failure(objective, pattern)))
    rewards = [
        (assessment.metric_key(r.metric, experiment), r.preferred_direction == "High")
        for r in (criteria.rewards if criteria else None) or []
    ]
    request = criteria.request_count if criteria else None
    request_key = assessment.metric_key(request, experiment) if request else None
    relative = relative_limits(experiment)
    keys = list(dict.fromkeys([*assessment.criteria_keys(experiment), *(r.key for r in relative)]))
    return Criteria(objectives, relative, rewards, request_key, keys)


@dataclass(frozen=True)
class Bayesian:
    name: ClassVar[str] = ALGORITHM_NAME
    settings: Settings = field(default_factory=Settings)

    def analyze(self, given: AnalysisInput) -> AnalysisResult:
        return analyze(given, self.settings)


def analyze(given: AnalysisInput, base: Settings | None = None) -> AnalysisResult:
    experiment = _defaulted(given.experiment)
    settings = settings_from_annotations(experiment.metadata.annotations, base or Settings())
    names = [v.name for v in experiment.versions]
    pattern = experiment.spec.strategy.testing_pattern
    criteria = criteria_of(experiment)
    carried = previous(experiment)
    status = experiment.status
    iteration = ((status.completed_iterations if status else None) or 0) + 1
    limits = {o.key: max(abs(o.lower or 0.0), abs(o.upper or 0.0)) for o in criteria.objectives}
    gathered = gather(
        criteria.keys,
        names,
        given.observations,
        given.metrics,
        carried.known,
        criteria.request_key,
        experiment.namespace,
        iteration,
        limits,
        settings,
    )
    rng = np.random.default_rng(given.seed)
    draws: Draws = draw_all(
        [
            (key, v, b)
            for key, per in gathered.beliefs.items()
            if key != criteria.request_key
            for v, b in per.items()
        ],
        rng,
        settings.draws,
    )
    checks = {
        v: [
            check(
                gathered.beliefs.get(o.key, {}).get(v),
                draws.get(o.key, {}).get(v),
                o,
                settings.alpha,
                settings.tau,
                settings.min_samples,
            )
            for o in criteria.objectives
        ]
        for v in names
    }
    for v in names[1:]:
        checks[v] += [
            check_relative(
                _pair(gathered.beliefs, draws, r.key, v),
                _pair(gathered.beliefs, draws, r.key, names[0]),
                r,
                settings.alpha,
                settings.tau,
                settings.min_samples,
            )
            for r in criteria.relative
        ]
    masks = _feasibility(names, criteria, draws, settings)
    feasible = {
        v: (float(masks[i].mean()) if any(c.probability is not None for c in checks[v]) else None)
        for i, v in enumerate(names)
    }
    comparisons = [
        _comparisons(names, key, high, gathered.beliefs, draws, settings)
        for key, high in criteria.rewards
    ]
    srm_state = srm.update(
        carried.srm, names, gathered.fresh_requests, _split_in_force(experiment, names)
    )
    srm_result = srm.test(srm_state, names, settings.srm_p_value)
    evidence = decide.Evidence(
        names=names,
        pattern=pattern,
        checks=checks,
        feasible=feasible,
        requests=gathered.requests,
        comparisons=comparisons,
        has_reward=bool(criteria.rewards),
        srm=srm_result,
        iteration=iteration,
        max_iterations=_max_iterations(experiment),
    )
    outcome = decide.decide(evidence, settings)
    votes, weights, weight_details = _weights(
        experiment, names, criteria, masks, draws, outcome.eliminated, settings, rng
    )
    aggregated = assessment.aggregate(
        AnalysisInput(experiment, given.metrics, given.observations, given.seed)
    )
    history = [
        *carried.history,
        {
            "iteration": iteration,
            "action": outcome.decision.action,
            "weights": {w.name: w.value for w in weights},
            "pFeasible": {v: report.number(p, 4) for v, p in feasible.items()},
            "pBest": {v: report.number(float(p), 4) for v, p in zip(names, votes, strict=True)},
        },
    ][-settings.history :]
    details: dict[str, Any] = {
        "algorithm": ALGORITHM_NAME,
        "iteration": iteration,
        "maxIterations": evidence.max_iterations,
        "seed": given.seed,
        "alpha": settings.alpha,
        "posteriors": report.posteriors(gathered.beliefs, draws),
        "objectives": report.checks(checks),
        "pFeasible": {v: report.number(p, 4) for v, p in feasible.items()},
        "pBest": {v: report.number(float(p), 4) for v, p in zip(names, votes, strict=True)},
        "comparisons": report.comparisons([k for k, _ in criteria.rewards], comparisons),
        "eliminated": outcome.eliminated,
        "requests": {v: report.number(n) for v, n in gathered.requests.items()},
        "srm": report.srm(srm_result),
        "missingData": {"stale": gathered.stale, "unknown": gathered.unknown},
        "weights": weight_details,
        "history": history,
        "state": Carried(gathered.known, srm_state).to_wire(),
    }
    decision = outcome.decision
    return AnalysisResult(
        aggregated_metrics=assessment.aggregated_metrics_data(aggregated),
        version_assessments=_assessments(names, checks),
        winner_assessment=_winner(names, decision.action, decision.version, votes),
        weights=weights,
        decision=decision,
        details=details,
        message=decision.reason,
        messages={"aggregatedMetrics": aggregated.messages.render()},
    )


def _defaulted(experiment: Experiment) -> Experiment:
    """`with_defaults` without deep-copying the status (it can hold long analysis details),
    and no copy at all when the defaults are in place already (the analyze function's case)."""
    spec = experiment.spec
    strategy, duration = spec.strategy, spec.duration
    objectives = (spec.criteria.objectives if spec.criteria else None) or []
    if (
        strategy.deployment_pattern is not None
        and strategy.weights is not None
        and strategy.weights.max_candidate_weight is not None
        and strategy.weights.max_candidate_weight_increment is not None
        and duration is not None
        and duration.iterations_per_loop
        and duration.max_loops
        and all(o.rollback_on_failure is not None for o in objectives)
    ):
        return experiment
    bare = with_defaults(experiment.model_copy(update={"status": None}))
    return bare.model_copy(update={"status": experiment.status})


def _max_iterations(experiment: Experiment) -> int:
    duration = experiment.spec.duration
    assert duration is not None and duration.iterations_per_loop and duration.max_loops
    return duration.iterations_per_loop * duration.max_loops


def _pair(
    beliefs: Mapping[str, Mapping[str, Belief]], draws: Draws, key: str, version: str
) -> tuple[Belief, np.ndarray] | None:
    belief, sample = beliefs.get(key, {}).get(version), draws.get(key, {}).get(version)
    return None if belief is None or sample is None else (belief, sample)


def _feasibility(
    names: Sequence[str], criteria: Criteria, draws: Draws, settings: Settings
) -> np.ndarray:
    """versions × draws: P(every objective holds) in each draw (1 where a metric is unknown:
    unknown is not bad)."""
    masks = np.ones((len(names), settings.draws))
    for i, v in enumerate(names):
        for o in criteria.objectives:
            sample = draws.get(o.key, {}).get(v)
            if sample is not None:
                masks[i] *= holds_mask(sample, o)
        for r in criteria.relative if i > 0 else []:
            sample, base = draws.get(r.key, {}).get(v), draws.get(r.key, {}).get(names[0])
            if sample is not None and base is not None:
                masks[i] *= relative_mask(sample, base, r)
    return masks


def _comparisons(
    names: Sequence[str],
    key: str,
    high: bool,
    beliefs: Mapping[str, Mapping[str, Belief]],
    draws: Draws,
    settings: Settings,
) -> dict[tuple[str, str], Comparison]:
    """Every candidate against the baseline, and every pair of candidates, on one reward."""
    per_b, per_d = beliefs.get(key, {}), draws.get(key, {})
    pairs = [(c, names[0]) for c in names[1:]]
    pairs += [(a, b) for i, a in enumerate(names[1:], 1) for b in names[i + 1 :]]
    return {
        (a, b): compare(
            (a, b),
            (per_b[a], per_b[b]),
            (per_d[a], per_d[b]),
            high,
            settings.tau,
            settings.alpha,
            settings.minimum_effect,
        )
        for a, b in pairs
        if a in per_b and b in per_b
    }


def _split_in_force(experiment: Experiment, names: Sequence[str]) -> dict[str, float] | None:
    current = experiment.status.current_weight_distribution if experiment.status else None
    if not current:
        return None
    by_name = {w.name: w.value for w in current}
    total = sum(by_name.get(n, 0) for n in names)
    return {n: by_name.get(n, 0) / total for n in names} if total > 0 else None


def _weights(
    experiment: Experiment,
    names: Sequence[str],
    criteria: Criteria,
    masks: np.ndarray,
    draws: Draws,
    eliminated: Mapping[str, str],
    settings: Settings,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[VersionWeight], dict[str, Any]]:
    """Thompson votes (= P(best)), and the split to apply (none for Conformance)."""
    active = np.array([i == 0 or v not in eliminated for i, v in enumerate(names)])
    if settings.soft_constraints:
        soft = np.ones_like(masks)
        for i, v in enumerate(names):
            for o in criteria.objectives:
                sample = draws.get(o.key, {}).get(v)
                if sample is not None:
                    soft[i] *= soft_mask(sample, o, settings.soft_sharpness)
        masks = soft
    feasible = allocation.feasibility_draws(masks, rng)
    rewards = _reward_draws(names, criteria, draws, settings.draws)
    pattern = experiment.spec.strategy.testing_pattern
    if pattern in ("Canary", "Conformance") or rewards is None:
        votes = allocation.canary_votes(feasible, active, rng)
    else:
        votes = allocation.reward_votes(rewards, feasible, active, rng)
    if pattern == "Conformance":
        return (
            votes,
            [],
            {"message": "weight computation is not applicable to a conformance experiment"},
        )
    limits = experiment.spec.strategy.weights
    assert limits is not None  # with_defaults filled it in
    current = _current(experiment, names)
    caps = allocation.caps(
        names, current, limits.max_candidate_weight or 0, limits.max_candidate_weight_increment or 0
    )
    target = allocation.split(votes, active, settings.exploration_floor)
    if pattern not in ("Canary", "Conformance"):
        target = allocation.with_baseline_floor(target, settings.baseline_floor)
    bounded = allocation.capped(target, caps)
    rounded = allocation.round_to_100(bounded, caps)
    details = {
        "previous": current,
        "target": {n: report.number(float(w), 4) for n, w in zip(names, target, strict=True)},
        "caps": dict(zip(names, caps, strict=True)),
        "explorationFloor": settings.exploration_floor,
    }
    return (
        votes,
        [VersionWeight(name=n, value=w) for n, w in zip(names, rounded, strict=True)],
        details,
    )


def _reward_draws(
    names: Sequence[str], criteria: Criteria, draws: Draws, size: int
) -> np.ndarray | None:
    """rewards × versions × draws, signed so that higher is better; None if no reward is known."""
    if not criteria.rewards:
        return None
    stacked = np.full((len(criteria.rewards), len(names), size), 0.0)
    for r, (key, high) in enumerate(criteria.rewards):
        per = draws.get(key, {})
        if not per:
            return None
        for i, v in enumerate(names):
            # a version whose reward never arrived is ranked by the average of the others
            sample = per.get(v)
            stacked[r, i] = sample if sample is not None else np.mean(list(per.values()), axis=0)
        if not high:
            stacked[r] = -stacked[r]
    return stacked


def _current(experiment: Experiment, names: Sequence[str]) -> dict[str, int]:
    """The split in force by version name; none recorded means all traffic on the baseline."""
    current = experiment.status.current_weight_distribution if experiment.status else None
    if not current:
        return {n: 100 if i == 0 else 0 for i, n in enumerate(names)}
    by_name = {w.name: w.value for w in current}
    return {n: by_name.get(n, 0) for n in names}


def _assessments(
    names: Sequence[str], checks: Mapping[str, Sequence[Check]]
) -> dict[str, list[bool]]:
    """v2's booleans, one per spec objective: met unless proven failing, and P(holds) ≥ ½; no
    data: not met. (Relative objectives are in `details` only: v2 has no place for them.)"""
    if not any(not c.limits.relative for v in names for c in checks[v]):
        return {}
    return {
        v: [
            c.verdict != "fails" and c.probability is not None and c.probability >= 0.5
            for c in checks[v]
            if not c.limits.relative
        ]
        for v in names
    }


def _winner(
    names: Sequence[str], action: str, version: str | None, votes: np.ndarray
) -> WinnerAssessment:
    """A winner only once the decision is taken; until then the likeliest version is the best."""
    if action in ("promote", "rollback") and version is not None:
        return WinnerAssessment(winner_found=True, winner=version, best_versions=[version])
    best = [names[int(np.argmax(votes))]] if len(votes) else []
    return WinnerAssessment(winner_found=False, best_versions=best)


ALGORITHM = Bayesian()
