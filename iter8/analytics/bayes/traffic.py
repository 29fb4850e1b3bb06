"""From posterior draws to the split to apply: feasibility per draw, Thompson votes by
testing pattern, then `allocation`'s floor, caps and rounding (none for Conformance)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from iter8.analytics.bayes import allocation, report
from iter8.analytics.bayes.criteria import Criteria
from iter8.analytics.bayes.objectives import holds_mask, soft_mask
from iter8.analytics.bayes.relative import relative_mask
from iter8.analytics.bayes.settings import Settings
from iter8.api.experiment import Experiment, VersionWeight

Draws = dict[str, dict[str, np.ndarray]]
# (rounded split, split in force, caps) → (split to apply, why each held version is held)
Hold = Callable[[list[int], dict[str, int], list[int]], tuple[list[int], dict[str, str]]]


def feasibility(
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


def split_in_force(experiment: Experiment, names: Sequence[str]) -> dict[str, float] | None:
    current = experiment.status.current_weight_distribution if experiment.status else None
    if not current:
        return None
    by_name = {w.name: w.value for w in current}
    total = sum(by_name.get(n, 0) for n in names)
    return {n: by_name.get(n, 0) / total for n in names} if total > 0 else None


def weights(
    experiment: Experiment,
    names: Sequence[str],
    criteria: Criteria,
    masks: np.ndarray,
    draws: Draws,
    eliminated: Mapping[str, str],
    settings: Settings,
    rng: np.random.Generator,
    floor: float,
    hold: Hold | None = None,
    at_floor: Mapping[str, str] | None = None,
    ride: bool = True,
    by_requests: bool = True,
) -> tuple[np.ndarray, list[VersionWeight], dict[str, Any]]:
    """Thompson votes (= P(best)), and the split to apply (none for Conformance); `floor`: the
    percent every live version keeps (`allocation.floor`); `at_floor`: the versions that keep
    only it, and why (`allocation.likely_failing`); `hold` (`bayes.evidence.hold`)
    last, so a version without evidence keeps its share; `ride`: whether a Canary candidate
    may ride the increment cap (`allocation.ridden`); `by_requests`: whether an A/B(/N) is
    proven in requests, so splits by `vote_power` (the equal split a reward test's power needs;
    values are proven in iterations at any share, so there the votes stand as they are)."""
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
    rewards = reward_draws(names, criteria, draws, settings.draws)
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
    current = split_now(experiment, names)
    caps = allocation.caps(
        names, current, limits.max_candidate_weight or 0, limits.max_candidate_weight_increment or 0
    )
    floors = np.full(len(names), floor)
    if pattern == "Canary":  # the baseline is no reference there: no proof needs its requests
        floors[0] = min(floor, settings.exploration_floor)
    kept = np.array([i > 0 and v in (at_floor or {}) for i, v in enumerate(names)])
    if pattern == "Canary":
        shaped, basis = _canary_shape(names, votes, masks.mean(axis=1), active, settings, ride)
        votes = shaped  # a candidate that rides is the one to back: its P(best) is reported 1
    else:
        lead = (
            (
                "P(dominates)",
                allocation.dominance(rewards, feasible, active, settings.pareto_tolerance),
            )
            if pattern == "Pareto" and rewards is not None
            else ("P(best)", votes)
        )
        shaped, basis = _reward_shape(names, votes, settings, by_requests, lead)
    target = allocation.split(allocation.without(shaped, kept), active, floors)
    if pattern not in ("Canary", "Conformance"):
        target = allocation.with_baseline_floor(target, settings.baseline_floor)
    bounded = allocation.capped(target, caps)
    rounded = allocation.round_to_100(bounded, caps)
    rounded, held = hold(rounded, current, caps) if hold else (rounded, {})
    details = {
        "previous": current,
        "target": {n: report.number(float(w), 4) for n, w in zip(names, target, strict=True)},
        "caps": dict(zip(names, caps, strict=True)),
        "explorationFloor": report.number(floor, 4),
        "held": held,
        "atFloor": dict(at_floor or {}),
        "basis": basis,
    }
    return (
        votes,
        [VersionWeight(name=n, value=w) for n, w in zip(names, rounded, strict=True)],
        details,
    )


def _canary_shape(
    names: Sequence[str],
    votes: np.ndarray,
    p_feasible: np.ndarray,
    active: np.ndarray,
    settings: Settings,
    ride: bool,
) -> tuple[np.ndarray, str]:
    """The votes a Canary splits by, and why (`allocation.ridden`)."""
    if not ride:
        return votes, "Thompson sampling: values are proven in iterations, whatever the share"
    rider = allocation.ridden(p_feasible, active, settings.canary_ride)
    if rider is None:
        return votes, f"Thompson sampling: no candidate is {settings.canary_ride:g} likely feasible"
    return allocation.every_vote(rider, len(names)), (
        f"{names[rider]} rides the increment cap: P(feasible) "
        f"{report.number(float(p_feasible[rider]), 3)} ≥ {settings.canary_ride:g}"
    )


def _reward_shape(
    names: Sequence[str],
    votes: np.ndarray,
    settings: Settings,
    by_requests: bool,
    lead: tuple[str, np.ndarray],
) -> tuple[np.ndarray, str]:
    """The votes an A/B(/N) or Pareto splits by, and why (`allocation.sharpened`, `leader`,
    `trailing_cut`); `lead`: what a leader's ride rests on, by name (P(best), or for Pareto
    `allocation.dominance`)."""
    if not by_requests:
        return votes, "Thompson sampling: the reward is values, proven in iterations"
    chance, chances = lead
    rider = allocation.leader(chances, settings.leader_ride)
    if rider is not None:
        return allocation.every_vote(rider, len(names)), (
            f"{names[rider]} rides the increment cap: {chance} "
            f"{report.number(float(chances[rider]), 3)} ≥ {settings.leader_ride:g}"
        )
    shaped = allocation.sharpened(votes, settings.vote_power)
    basis = (
        "an equal split: the reward test's power"
        if settings.vote_power == 0
        else f"Thompson sampling, votes to the power {settings.vote_power:g}"
    )
    cut = allocation.trailing_cut(shaped, votes, settings.trailing_vote)
    trailing = [v for i, v in enumerate(names) if cut[i] < shaped[i] and i > 0]
    if trailing:
        basis += (
            f"; {', '.join(trailing)} under {settings.trailing_vote:g} likely best: only that share"
        )
    return cut, basis


def reward_draws(
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


def split_now(experiment: Experiment, names: Sequence[str]) -> dict[str, int]:
    """The split in force by version name; none recorded means all traffic on the baseline."""
    current = experiment.status.current_weight_distribution if experiment.status else None
    if not current:
        return {n: 100 if i == 0 else 0 for i, n in enumerate(names)}
    by_name = {w.name: w.value for w in current}
    return {n: by_name.get(n, 0) for n in names}
