"""Which candidates are given up for futility before the horizon, beside the β-spending rule of
`sequential.futile`: a likely-failing candidate (`allocation.likely_failing`) whose objective
cannot be proven by the horizon at the share of traffic it has (`objectives.stalled`). Such a
candidate's Thompson share is small, so it would never gather the information the horizon's
rule assumes, and it would stay to the horizon serving bad requests. Non-binding: nothing is
proven against it, the outcome is `no-winner`, the baseline kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from iter8.analytics.bayes import allocation, report
from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.objectives import Check, stalled
from iter8.analytics.bayes.settings import Settings


def likely_failing(
    candidates: Sequence[str],
    feasible: Mapping[str, float | None],
    checks: Mapping[str, Sequence[Check]],
    settings: Settings,
) -> dict[str, str]:
    """The likely-failing candidates (`allocation.likely_failing`), and why: those whose
    objectives are measured in requests (enough bad events expected at the limit)."""
    result = {}
    for v in candidates:
        harm = _harm(checks[v], settings.likely_failing_events)
        if allocation.likely_failing(feasible.get(v), harm, settings.likely_failing):
            result[v] = (
                f"likely to fail an objective: P(feasible) {feasible[v]:.3f} < "
                f"{settings.likely_failing:g}, harm e-value {report.number(math.exp(min(harm, 700)), 3)} > 1"
            )
    return result


def stalled_on_requests(
    checks: dict[str, list[Check]],
    held: Mapping[str, str],
    current: Mapping[str, int],
    remaining: float,
    settings: Settings,
) -> dict[str, list[Check]]:
    """`checks` with each objective of a likely-failing candidate marked `stalled` when it
    cannot be proven by the horizon at the share it has now (`objectives.stalled`)."""
    result = dict(checks)
    for v in held:
        planned = current.get(v, 0) / 100.0 * remaining
        result[v] = [
            replace(c, stalled=stalled(c, c.n + planned, settings.alpha))
            if c.expected_events >= settings.likely_failing_events and not c.by_values
            else c
            for c in checks[v]
        ]
    return result


def stalled_on_values(
    checks: dict[str, list[Check]],
    candidates: Sequence[str],
    feasible: Mapping[str, float | None],
    beliefs: Mapping[str, Mapping[str, Belief]],
    current: Mapping[str, int],
    remaining: int,
    settings: Settings,
) -> dict[str, list[Check]]:
    """`stalled_on_requests` for candidates judged by values alone (`evidence.uncounted`): a
    likely-failing one (less than `likely_failing` likely feasible, an objective's harm e-value
    above 1) whose objective cannot be proven by the horizon at the weight its share adds per
    iteration. Its harm is rarely provable from values (a 1.2%-error canary against 1% ran all
    20 iterations on its Thompson share)."""
    result = dict(checks)
    for v in candidates:
        harm = _harm(checks[v])
        if not allocation.likely_failing(feasible.get(v), harm, settings.likely_failing):
            continue
        share = current.get(v, 0) / 100.0
        marked = []
        for c in checks[v]:
            belief = beliefs.get(c.limits.key, {}).get(v)
            if not c.by_values or belief is None or belief.series is None:
                marked.append(c)
                continue
            weight = belief.series.weight
            # a value since the start gains its share per iteration; any other value, one value
            planned = weight + (share if belief.since_start else 1.0) * remaining
            marked.append(replace(c, stalled=stalled(c, planned, settings.alpha, weight)))
        result[v] = marked
    return result


def _harm(checks: Sequence[Check], least_events: float = 0.0) -> float:
    """The largest harm log e-value among the objectives with at least `least_events` bad
    events expected at their limit (NaN, no evidence, is passed over); 0 for none."""
    return max(
        (
            c.log_e_fails
            for c in checks
            if c.log_e_fails == c.log_e_fails and c.expected_events >= least_events
        ),
        default=0.0,
    )
