"""`bayesian`, the default algorithm: posteriors for every metric, Thompson-sampled traffic, and
anytime-valid stopping, so looking every iteration never inflates false promotions.

In five lines:
1. every observation becomes a posterior (Beta for rates, Normal for means, Dirichlet over a
   histogram's buckets for percentiles, a Student t over the per-iteration values for a value
   without a sample size; `bayes.beliefs`);
2. joint posterior draws give P(objective holds), P(feasible) and P(best) per version;
3. traffic follows P(best feasible) (Thompson sampling), with a floor in requests (enough for a
   version at its limit to show bad events) and Iter8's caps; a Canary candidate not likely
   failing rides the increment cap, and an A/B(/N) splits equally until a decision (the
   reward test's power; `bayes.allocation`);
4. a promotion needs e-values ≥ 1/α (mixture likelihood ratios, one mixture tuned to the
   requests expected by the last iteration; `bayes.sequential`), so false promotions stay ≤ α
   under continuous monitoring;
5. so does a rollback: a candidate is dropped once its harm is proven by its own e-value.
Throughout, only evidence counts (`bayes.evidence`): a version without data keeps its split,
an unknown n is 0, and a version without any evidence for a while ends the experiment as
`no-data`. Every decision's reason says what evidence it rests on.
The pieces live in `iter8.analytics.bayes`; this module wires them and renders the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from iter8.analytics import assessment
from iter8.analytics.algorithm import AnalysisInput, AnalysisResult, WinnerAssessment
from iter8.analytics.bayes import (
    allocation,
    cumulative,
    decide,
    evidence,
    futility,
    report,
    shared_values,
    srm,
    traffic,
)
from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.criteria import Criteria, criteria_of
from iter8.analytics.bayes.draws import draw_all, share
from iter8.analytics.bayes.inputs import gather
from iter8.analytics.bayes.objectives import Check, Limits, Verdict, check
from iter8.analytics.bayes.relative import check_relative
from iter8.analytics.bayes.rewards import Comparison, compare
from iter8.analytics.bayes.settings import Settings, settings_from_annotations
from iter8.analytics.bayes.state import ALGORITHM_NAME, Carried, previous
from iter8.analytics.bayes.traffic import Draws
from iter8.api.defaults import defaulted_view, duration_with_defaults, max_iterations
from iter8.api.experiment import Experiment


@dataclass(frozen=True)
class Bayesian:
    name: ClassVar[str] = ALGORITHM_NAME
    settings: Settings = field(default_factory=Settings)

    def analyze(self, given: AnalysisInput) -> AnalysisResult:
        return analyze(given, self.settings)


def analyze(given: AnalysisInput, base: Settings | None = None) -> AnalysisResult:
    experiment = defaulted_view(given.experiment)
    settings = settings_from_annotations(experiment.metadata.annotations, base or Settings())
    names = [v.name for v in experiment.versions]
    pattern = experiment.spec.strategy.testing_pattern
    criteria = criteria_of(experiment)
    carried = previous(experiment)
    status = experiment.status
    iteration = ((status.completed_iterations if status else None) or 0) + 1
    reward_keys = [k for k, _ in criteria.rewards]
    split = traffic.split_in_force(experiment, names)
    lasted = cumulative.span(
        given.elapsed_seconds,
        carried.elapsed,
        duration_with_defaults(experiment).interval_seconds,
        first=not carried.exposure,
    )
    exposure = cumulative.exposures(carried.exposure, split, names, lasted)
    gathered = gather(
        criteria.keys,
        names,
        given.observations,
        given.metrics,
        carried.known,
        criteria.request_key,
        experiment.namespace,
        iteration,
        settings,
        carried.pairs,
        reward_keys,
        exposure,
    )
    alike = shared_values.update(carried.shared, gathered.fresh_values, names, criteria.keys)
    shared = shared_values.shared(alike)
    if shared:  # no version's evidence (rule 7): set aside
        beliefs = {k: per for k, per in gathered.beliefs.items() if k not in shared}
        gathered = replace(gathered, beliefs=beliefs)
    horizon = max_iterations(experiment)
    per_iteration = carried.traffic or _traffic(gathered.requests, iteration)
    n_star = (
        per_iteration * horizon / len(names) if per_iteration and settings.use_horizon else None
    )
    ramp = carried.ramp if carried.history else _ramp_start(experiment, names, iteration)
    n_max = _most_requests(experiment, names, ramp, per_iteration, horizon, n_star)
    needs = _needs(names, criteria)
    srm_state = srm.update(carried.srm, names, gathered.fresh_requests, split)
    srm_result = srm.test(srm_state, names, settings.srm_p_value)
    covered = evidence.attributed(evidence.coverage(needs, gathered.beliefs, shared), srm_result)
    gaps = evidence.missing(needs, gathered.beliefs)
    without_data = carried.without_data + 1 if any(map(evidence.blank, covered.values())) else 0
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
    uncounted = evidence.uncounted(names, gathered.beliefs, criteria.request_key is not None)
    checks = {
        v: [
            check(
                gathered.beliefs.get(o.key, {}).get(v),
                draws.get(o.key, {}).get(v),
                o,
                settings.alpha,
                settings.tau,
                settings.min_samples,
                n_star,
                n_max[v],
                settings.min_values if v in uncounted else 1,
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
                n_star,
            )
            for r in criteria.relative
        ]
    masks = traffic.feasibility(names, criteria, draws, settings)
    feasible = {
        v: (share(masks[i]) if any(c.probability is not None for c in checks[v]) else None)
        for i, v in enumerate(names)
    }
    if n_star and per_iteration:
        checks = futility.stalled_on_requests(
            checks,
            futility.likely_failing(names[1:], feasible, checks, settings),
            traffic.split_now(experiment, names),
            per_iteration * max(0, horizon - iteration),
            settings,
        )
    if uncounted:
        checks = futility.stalled_on_values(
            checks,
            [v for v in names[1:] if v in uncounted],
            feasible,
            gathered.beliefs,
            traffic.split_now(experiment, names),
            max(0, horizon - iteration),
            settings,
        )
    comparisons = [
        _comparisons(names, key, high, gathered.beliefs, draws, settings, n_star)
        for key, high in criteria.rewards
    ]
    facts = decide.Evidence(
        names=names,
        pattern=pattern,
        checks=checks,
        feasible=feasible,
        requests=gathered.requests,
        comparisons=comparisons,
        has_reward=bool(criteria.rewards),
        srm=srm_result,
        iteration=iteration,
        max_iterations=horizon,
        reward_scales=[
            abs(gathered.beliefs[key][names[0]].value)
            if names[0] in gathered.beliefs.get(key, {})
            else 0.0
            for key, _ in criteria.rewards
        ],
        uncounted=uncounted,
    )
    outcome = decide.decide(facts, settings)
    decision = outcome.decision
    last = iteration >= facts.max_iterations
    stopped = evidence.no_data(decision, names, covered, gaps, without_data, last, settings)
    decision = stopped or decision
    live = [v for i, v in enumerate(names) if i == 0 or v not in outcome.eliminated]
    floor = allocation.floor(
        _limit_rate(checks),
        per_iteration,
        len(live),
        settings.exploration_floor,
        settings.floor_iterations,
    )
    votes, weights, weight_details = traffic.weights(
        experiment,
        names,
        criteria,
        masks,
        draws,
        outcome.eliminated,
        settings,
        rng,
        floor,
        lambda split, current, caps: evidence.hold(
            names,
            split,
            current,
            caps,
            covered,
            gathered.answered,
            settings.exploration_floor,
            reference=pattern != "Canary" or bool(criteria.relative),
        ),
        futility.likely_failing(live[1:], feasible, checks, settings)
        if settings.hold_likely_failing
        else {},
        # riding buys a proof in requests; values are proven in iterations, whatever the share
        ride=not facts.uncounted.issuperset(names[1:]),
        # an A/B's equal split is for its reward test's power, which values do not need
        by_requests=not evidence.judged_in_iterations(
            [key for key, _ in criteria.rewards], names, gathered.beliefs
        ),
    )
    basis = evidence.summary(names, needs, gathered.beliefs, shared)
    decision = decision.model_copy(update={"reason": evidence.stated(decision, basis)})
    aggregated = assessment.aggregate(
        AnalysisInput(experiment, given.metrics, given.observations, given.seed)
    )
    # P(best) of a version without any evidence is the prior's, not a finding: not reported
    votes = np.where([evidence.blank(covered[v]) for v in names], np.nan, votes)
    history = [
        *carried.history,
        {
            "iteration": iteration,
            "action": decision.action,
            "weights": {w.name: w.value for w in weights},
            "pFeasible": {v: report.number(p, 4) for v, p in feasible.items()},
            "pBest": {v: report.number(float(p), 4) for v, p in zip(names, votes, strict=True)},
        },
    ][-settings.history :]
    details: dict[str, Any] = {
        "algorithm": ALGORITHM_NAME,
        "iteration": iteration,
        "maxIterations": facts.max_iterations,
        "seed": given.seed,
        "alpha": settings.alpha,
        "posteriors": report.posteriors(gathered.beliefs, draws),
        "objectives": report.checks(checks),
        "pFeasible": {v: report.number(p, 4) for v, p in feasible.items()},
        "pBest": {v: report.number(float(p), 4) for v, p in zip(names, votes, strict=True)},
        "comparisons": report.comparisons([k for k, _ in criteria.rewards], comparisons),
        **(
            {
                "paretoFront": _front(
                    [v for v in names if decide.verdict(checks[v]) != "fails"],
                    criteria.rewards,
                    gathered.beliefs,
                )
            }
            if pattern == "Pareto"
            else {}
        ),
        "horizon": {
            "requestsPerIteration": report.number(per_iteration or 0.0),
            "expectedPerVersion": report.number(n_star or 0.0),
            "mostRequests": {v: report.number(n) for v, n in n_max.items() if n is not None},
        },
        "eliminated": outcome.eliminated,
        "requests": {v: report.number(n) for v, n in gathered.requests.items()},
        "srm": report.srm(srm_result),
        "missingData": {
            "stale": gathered.stale,
            "unknown": gathered.unknown,
            "invalid": gathered.invalid,
            "shared": sorted(shared),
        },
        "evidence": basis,
        "withoutData": without_data,
        "weights": weight_details,
        "history": history,
        "state": Carried(
            gathered.known,
            srm_state,
            traffic=per_iteration,
            pairs=gathered.pairs,
            without_data=without_data,
            ramp=ramp,
            shared=alike,
            exposure=exposure,
            elapsed=given.elapsed_seconds,
        ).to_wire(),
    }
    if stopped is not None:
        details["outcome"] = "no-data"
    if decision.action == "continue":
        # only for a version with evidence of its own: more of the totals settles nothing
        own = {v: c for v, c in checks.items() if covered[v] in ("complete", "partial")}
        details["moreNeeded"] = report.more_needed(
            gathered.beliefs, own, _judge(settings, n_star, n_max, uncounted)
        )
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


# a check's verdict does not read the posterior draws (they give its probability only)
_ANY_DRAW = np.zeros(1)


def _judge(
    settings: Settings,
    n_star: float | None,
    n_max: Mapping[str, float | None],
    uncounted: frozenset[str],
) -> Callable[[str, Limits], Callable[[Belief], Verdict]]:
    """A version's objective, judged on any belief as this step judges it (for `moreNeeded`)."""

    def of(version: str, limits: Limits) -> Callable[[Belief], Verdict]:
        min_values = settings.min_values if version in uncounted else 1
        return lambda belief: (
            check(
                belief,
                _ANY_DRAW,
                limits,
                settings.alpha,
                settings.tau,
                settings.min_samples,
                n_star,
                n_max[version],
                min_values,
            ).verdict
        )

    return of


def _needs(names: Sequence[str], criteria: Criteria) -> dict[str, list[str]]:
    """The metrics every version is judged by: objectives, rewards, relative objectives."""
    keys = [
        *(o.key for o in criteria.objectives),
        *(k for k, _ in criteria.rewards),
        *(r.key for r in criteria.relative),
    ]
    return {v: list(dict.fromkeys(keys)) for v in names}


def _pair(
    beliefs: Mapping[str, Mapping[str, Belief]], draws: Draws, key: str, version: str
) -> tuple[Belief, np.ndarray] | None:
    belief, sample = beliefs.get(key, {}).get(version), draws.get(key, {}).get(version)
    return None if belief is None or sample is None else (belief, sample)


def _comparisons(
    names: Sequence[str],
    key: str,
    high: bool,
    beliefs: Mapping[str, Mapping[str, Belief]],
    draws: Draws,
    settings: Settings,
    n_star: float | None,
) -> dict[tuple[str, str], Comparison]:
    """Every candidate against the baseline, and every pair of candidates, on one reward."""
    pairs = [(c, names[0]) for c in names[1:]]
    pairs += [(a, b) for i, a in enumerate(names[1:], 1) for b in names[i + 1 :]]
    return compare(
        pairs,
        beliefs.get(key, {}),
        draws.get(key, {}),
        high,
        settings.tau,
        settings.alpha,
        settings.minimum_effect,
        n_star,
    )


def _traffic(requests: Mapping[str, float | None], iteration: int) -> float | None:
    """Requests per iteration so far, all versions together (None before every version's count
    arrived: a rate fixed from one version's count set the horizon's I_max far too small, which
    made the horizon boundary anti-conservative and futility stop on a tenth of the data)."""
    if any(n is None for n in requests.values()):
        return None
    total = sum(n for n in requests.values() if n)
    return total / iteration if total > 0 else None


def _ramp_start(
    experiment: Experiment, names: Sequence[str], iteration: int
) -> tuple[int, dict[str, int]] | None:
    """The split in force at this, the first bayesian step (as init read it from the target, or
    as a step without data set it), fixed before any data were seen; None when none is
    recorded, and never taken later (a split chosen from data would make I_max depend on
    the outcomes): then every version may have all the traffic."""
    current = experiment.status.current_weight_distribution if experiment.status else None
    if not current:
        return None
    return iteration, traffic.split_now(experiment, names)


def _most_requests(
    experiment: Experiment,
    names: Sequence[str],
    ramp: tuple[int, dict[str, int]] | None,
    per_iteration: float | None,
    horizon: int,
    n_star: float | None,
) -> dict[str, float | None]:
    """Per version, the most requests it can have by the horizon: the objectives' I_max
    (`objectives.check`). All the traffic for the baseline, and for every version unless the
    algorithm's split is what routes (Progressive) and its start is known; else the ramp
    Iter8's caps allow (`allocation.most_requests`): with the defaults a candidate can have
    ~74% of the traffic, and a boundary at c·√I_max with I_max all of it asked for z 15%
    higher than needed at every look (bench canary-heavy-tail-under)."""
    if not n_star or not per_iteration:
        return dict.fromkeys(names)
    everything = per_iteration * horizon
    strategy = experiment.spec.strategy
    limits = strategy.weights
    if ramp is None or strategy.deployment_pattern != "Progressive" or limits is None:
        return dict.fromkeys(names, everything)
    first, start = ramp
    bounds: dict[str, float | None] = {names[0]: everything}
    for v in names[1:]:
        bounds[v] = min(
            everything,
            allocation.most_requests(
                per_iteration,
                horizon,
                first,
                start.get(v, 100),
                limits.max_candidate_weight or 0,
                limits.max_candidate_weight_increment or 0,
            ),
        )
    return bounds


def _limit_rate(checks: Mapping[str, Sequence[Check]]) -> float | None:
    """The smallest bad-event rate an objective allows (1% errors, 5% beyond a p95 limit)."""
    rates = [
        c.expected_events / c.n
        for per in checks.values()
        for c in per
        if c.n > 0 and c.expected_events > 0
    ]
    return min(rates) if rates else None


def _front(
    versions: Sequence[str],
    rewards: Sequence[tuple[str, bool]],
    beliefs: Mapping[str, Mapping[str, Belief]],
) -> list[str]:
    """The versions (of those not failing an objective) no other beats on every reward, by
    point estimates: the trade-offs a user may choose among."""
    values = {
        v: [(1 if high else -1) * beliefs[key][v].value for key, high in rewards]
        for v in versions
        if all(v in beliefs.get(key, {}) for key, _ in rewards)
    }

    def dominated(v: str) -> bool:
        return any(
            all(a >= b for a, b in zip(values[w], values[v], strict=True))
            and values[w] != values[v]
            for w in values
            if w != v
        )

    return [v for v in values if not dominated(v)]


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
    best = [names[int(np.nanargmax(votes))]] if len(votes) and not np.isnan(votes).all() else []
    return WinnerAssessment(winner_found=False, best_versions=best)


ALGORITHM = Bayesian()
