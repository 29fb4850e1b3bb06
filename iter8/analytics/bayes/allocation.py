"""Traffic by Thompson sampling: each version's share is its posterior probability of being the
version to back (probability matching), from the same joint draws that give P(best). Canary: a
candidate not likely failing gets every vote (`ridden`); A/B(/N): the votes tempered
(`sharpened`), by default to an equal split where the reward is counted in requests, then every
vote to a candidate likely best (`leader`) and, beside another candidate, a trailing one back
to its vote (`trailing_cut`).

Then, in order: an exploration floor for every version still in the race (eliminated ones get
0), each candidate capped by `maxCandidateWeight` and by `maxCandidateWeightIncrement` over the
split in force, the excess to the baseline (Iter8 v2's rule), and integers summing to exactly
100 by largest remainder that never lifts a candidate over its cap. Deterministic given the
draws, which come from the analysis step's one seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

TIE_JITTER = 1e-9


def feasibility_draws(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """0/1 per draw from per-draw probabilities (a soft mask becomes Bernoulli draws, as v1 did)."""
    if np.all((masks == 0.0) | (masks == 1.0)):
        return masks
    return (rng.random(masks.shape) < masks).astype(float)


def canary_votes(feasible: np.ndarray, active: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Share of draws backing each version: a candidate feasible in the draw (ties at random),
    else the baseline. `feasible` is versions × draws, baseline first."""
    utility = feasible * 2.0
    utility[0] = 1.0  # the baseline is the fallback in every draw
    return _votes(utility, active, rng)


def reward_votes(
    rewards: np.ndarray, feasible: np.ndarray, active: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Share of draws in which each version is the feasible one with the best reward
    (`rewards`: rewards × versions × draws, signed so higher is better). With several rewards a
    draw's vote is split over the feasible versions no other feasible version dominates."""
    versions, draws = feasible.shape
    allowed = (feasible > 0) & active[:, None]
    if rewards.shape[0] == 1:
        utility = np.where(allowed, rewards[0], -np.inf)
        return _votes(utility, active, rng, fallback_when_none=True)
    front = allowed.copy()
    for i in range(versions):
        for j in range(versions):
            if i == j:
                continue
            dominated = (
                np.all(rewards[:, j] >= rewards[:, i], axis=0)
                & np.any(rewards[:, j] > rewards[:, i], axis=0)
                & allowed[j]
            )
            front[i] &= ~dominated
    size = front.sum(axis=0)
    votes = np.where(size > 0, front / np.maximum(size, 1), 0.0).sum(axis=1)
    votes[0] += float((size == 0).sum())  # nothing feasible in a draw: back the baseline
    return votes / draws


def _votes(
    utility: np.ndarray,
    active: np.ndarray,
    rng: np.random.Generator,
    fallback_when_none: bool = False,
) -> np.ndarray:
    versions, draws = utility.shape
    jittered = np.where(active[:, None], utility, -np.inf) + TIE_JITTER * rng.random(utility.shape)
    best = np.argmax(jittered, axis=0)
    if fallback_when_none:
        best = np.where(np.isfinite(jittered.max(axis=0)), best, 0)
    return np.bincount(best, minlength=versions) / draws


def likely_failing(p_feasible: float | None, log_e_harm: float, threshold: float) -> bool:
    """Whether a candidate is likely failing: more likely to fail an objective than to meet it
    (P(feasible) < `threshold`) while the data lean to harm (an objective's harm e-value
    above 1). Such a candidate is given up once it cannot be proven by the horizon at its
    share (`objectives.stalled`), and with `hold_likely_failing` keeps only its floor
    meanwhile (the floor is what a rollback needs, `floor`). Not by default: a compliant
    candidate's posterior can dip under ½ by chance (a p95 5% under its limit, heavy-tailed,
    often does in the first iterations), and at its floor its estimate is stuck with that
    early noise (40 requests an iteration after a few hundred): held, 1 in 10 such
    candidates ended the bench's 20 iterations unproven, against 1 in 20 on their Thompson
    share."""
    return p_feasible is not None and p_feasible < threshold and log_e_harm > 0.0


def ridden(p_feasible: np.ndarray, active: np.ndarray, threshold: float) -> int | None:
    """Canary: the live candidate most likely feasible, when it is at least `threshold` likely
    (not likely failing); it gets every vote (`every_vote`), so it rides the increment cap."""
    chances = np.where(active, p_feasible, -1.0)
    chances[0] = -1.0
    return _first(chances, threshold)


def leader(votes: np.ndarray, threshold: float) -> int | None:
    """A/B(/N): the candidate at least `threshold` likely best; it gets every vote, so it rides
    the increment cap, as a canary not likely failing does. The equal split is for the reward
    test's power; once the leader is that likely best the test is near its boundary, and the
    baseline's half of the traffic bought little more of it."""
    return _first(votes, threshold)


def dominance(
    rewards: np.ndarray, feasible: np.ndarray, active: np.ndarray, tolerance: float
) -> np.ndarray:
    """Pareto: per version, the share of draws in which it is feasible and dominates the
    baseline as promotion asks (`decide`): better on at least one reward, worse on none by
    more than `tolerance` of the baseline's value (`rewards`: rewards × versions × draws,
    higher is better; `feasible`: versions × draws). The baseline and eliminated versions get
    0. Thompson's vote is no such probability: a draw's vote is split over the whole front, so
    a dominating candidate gets about half of it."""
    base = rewards[:, :1, :]
    kept = np.all(rewards >= base - tolerance * np.abs(base), axis=0)
    chances = (kept & np.any(rewards > base, axis=0) & (feasible > 0)).mean(axis=1)
    chances[0] = 0.0
    return np.where(active, chances, 0.0)


def _first(chances: np.ndarray, threshold: float) -> int | None:
    """The version with the most `chances` when they reach `threshold`; never the baseline."""
    best = int(np.argmax(chances))
    return None if best == 0 or chances[best] < threshold else best


def every_vote(index: int, size: int) -> np.ndarray:
    result = np.zeros(size)
    result[index] = 1.0
    return result


def sharpened(votes: np.ndarray, power: float) -> np.ndarray:
    """Votes raised to `power` and renormalised (tempered Thompson sampling; at 0 an equal
    split among the live versions, the fixed design's). Under 1 it flattens them: in A/B the
    leader is held back by the increment cap anyway, so Thompson's share only matters for a
    trailing candidate, and starving one that trails by chance early costs the reward test its
    power (the fixed design splits equally)."""
    if power == 1.0:
        return votes
    raised = np.power(votes, power)
    total = raised.sum()
    return raised / total if total > 0 else votes


def trailing_cut(shaped: np.ndarray, votes: np.ndarray, threshold: float) -> np.ndarray:
    """A/B/N: while two or more candidates are live, each whose vote (P(best)) is under
    `threshold` back to that vote, the rest in proportion to `shaped`. A trailing candidate is
    not what the decision waits for (the leader against the baseline is), so its equal share
    only served inferior requests (bench abn-4-versions: 15,183 -> 13,255 a run, correct and
    median iterations unchanged, 300 runs); with one candidate it is the decision's subject,
    and cutting it delays its rollback (ab-worse: median 7 -> 12 iterations)."""
    candidates = (np.arange(len(votes)) > 0) & (shaped > 0)
    trailing = (votes < threshold) & candidates
    if not trailing.any() or candidates.sum() < 2:
        return shaped
    result = np.where(trailing, votes, 0.0)
    rest = float(shaped[~trailing].sum())
    result[~trailing] = shaped[~trailing] * ((1.0 - result.sum()) / rest) if rest > 0 else 0.0
    return result


def without(votes: np.ndarray, held: np.ndarray) -> np.ndarray:
    """The votes of the `held` versions handed to the baseline."""
    result = np.where(held, 0.0, votes)
    result[0] += float(votes[held].sum())
    return result


def floor(
    limit_rate: float | None,
    per_iteration: float | None,
    active: int,
    minimum: float,
    iterations: float,
) -> float:
    """The percent each live version keeps: enough requests that a version at its limit's rate
    (the smallest bad-event rate an objective allows, e.g. 1% errors, 5% beyond a p95) yields
    one bad event in expectation within `iterations` iterations, at the observed traffic per
    iteration; at least `minimum`, at most an equal share (at low traffic the floor becomes the
    equal split a sequential test needs). Proof of harm needs bad events: a fixed 2% of 50
    requests (one request per iteration) took a median of 76 iterations to roll back a
    candidate with 5% errors. `maxCandidateWeight` and the increment cap still apply after."""
    equal = 100.0 / max(active, 1)
    if not limit_rate or not per_iteration or per_iteration <= 0:
        return min(minimum, equal)
    expected = limit_rate * iterations * per_iteration  # a subnormal limit underflows to 0
    if not expected > 0.0 or not math.isfinite(expected):
        return equal if expected == 0.0 else min(minimum, equal)
    return min(max(minimum, 100.0 / expected), equal)


def split(votes: np.ndarray, active: np.ndarray, floor: float | np.ndarray) -> np.ndarray:
    """Percentages: `floor` (one for all, or per version) for every active version, the rest in
    proportion to the votes."""
    floors = np.where(active, np.broadcast_to(floor, votes.shape), 0.0)
    wanted = float(floors.sum())
    reserved = min(wanted, 100.0)
    share = np.where(active, votes, 0.0)
    total = share.sum()
    share = share / total if total > 0 else active / active.sum()
    return floors * (reserved / max(wanted, 1e-12)) + (100.0 - reserved) * share


def with_baseline_floor(weights: np.ndarray, floor: float) -> np.ndarray:
    """The baseline raised to `floor` percent, the others scaled down to make room."""
    if weights[0] >= floor or floor <= 0:
        return weights
    result = weights.copy()
    rest = result[1:].sum()
    result[1:] *= (100.0 - floor) / rest if rest > 0 else 0.0
    result[0] = 100.0 - result[1:].sum()
    return result


def most_requests(
    per_iteration: float,
    horizon: int,
    first: int,
    start: int,
    max_weight: int,
    max_increment: int,
) -> float:
    """The most requests a candidate can be routed by iteration `horizon`, at `per_iteration`
    requests an iteration, when the split in force at iteration `first` gave it `start` percent
    and no step lifts it by more than `max_increment` nor over `max_weight` (`caps`): iteration
    first + j (j ≥ 1) runs at most min(max_weight, start + j × max_increment) percent; the iterations
    before `first` count in full. A bound fixed before any data, so a test's information
    horizon I_max may use it (`objectives`): with Iter8's defaults (100, 10) a candidate
    starting at 2% of 20 iterations can have 73.5% of the traffic, not all of it."""
    percent = 100.0 * max(0, first - 1) + (start if horizon >= first else 0)
    for j in range(1, max(0, horizon - first + 1)):
        percent += min(max_weight, start + j * max_increment)
    return per_iteration * percent / 100.0


def caps(
    names: Sequence[str], current: Mapping[str, int], max_weight: int, max_increment: int
) -> list[int]:
    """The most each version may get this iteration (the baseline: 100)."""
    limits = [100]
    for name in names[1:]:
        limits.append(max(0, min(max_weight, current.get(name, 0) + max_increment)))
    return limits


def capped(weights: np.ndarray, limits: Sequence[int]) -> np.ndarray:
    """Each candidate cut to its limit, the excess to the baseline."""
    result = weights.astype(float).copy()
    for i in range(1, len(result)):
        excess = max(0.0, result[i] - limits[i])
        result[i] -= excess
        result[0] += excess
    return result


def round_to_100(weights: np.ndarray, limits: Sequence[int]) -> list[int]:
    """Integers summing to 100: floors, then the largest remainders, never above a limit."""
    scaled = weights * (100.0 / weights.sum()) if weights.sum() > 0 else weights
    floors = [math.floor(w + 1e-9) for w in scaled]
    floors = [min(f, limit) for f, limit in zip(floors, limits, strict=True)]
    remainders = [w - f for w, f in zip(scaled, floors, strict=True)]
    left = 100 - sum(floors)
    for i in sorted(range(len(floors)), key=lambda k: (-remainders[k], k)):
        if left <= 0:
            break
        if floors[i] + 1 <= limits[i]:
            floors[i] += 1
            left -= 1
    floors[0] += left  # whatever the limits would not take goes to the baseline
    return floors
