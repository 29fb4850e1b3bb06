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
        if pattern == "Canary" and ride:
            votes = allocation.ridden(votes, masks.mean(axis=1), active, settings.canary_ride)
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
    power = settings.vote_power if by_requests else 1.0
    shaped = allocation.sharpened(votes, power) if pattern != "Canary" else votes
    if pattern != "Canary" and by_requests:
        shaped = allocation.trailing_cut(shaped, votes, settings.trailing_vote)
        shaped = allocation.led(shaped, votes, settings.leader_ride)
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
    }
    return (
        votes,
        [VersionWeight(name=n, value=w) for n, w in zip(names, rounded, strict=True)],
        details,
    )


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
