"""The bandit's knobs, with defaults that the benchmark in `bench/` justifies.

A user can override any of them per experiment with an annotation
`iter8.tools/bayesian.<name>` (e.g. `iter8.tools/bayesian.alpha: "0.01"`), so the Iter8 v2
schema stays untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

ANNOTATION_PREFIX = "iter8.tools/bayesian."


@dataclass(frozen=True)
class Settings:
    alpha: float = 0.05  # error rate of every anytime-valid test (false promotion ≤ alpha)
    draws: int = 1000  # posterior draws per belief (P(holds), P(best), Thompson); MC sd ≤ 1.6 pts
    min_samples: float = 100  # requests a version needs before any test may stop the experiment
    # values (without a sample size) an objective needs before it is proven to hold, where
    # nothing counts requests (`evidence.uncounted`, `objectives.check`): cumulative values (a
    # rate since the start, read without its count) are not independent draws, so their
    # confidence sequence is optimistic on few of them;
    # bench canary-bare-errors-slight (1.2% errors, limit 1%), 1,000 runs: promoted in 1.6%
    # of runs at 4, 1.0% at 6, 0.6% at 7, 0.4% at 8, 0.1% at 10; canary-bare-values 86.5%
    # correct at each (its median iterations 7, 7, 7, 8, 10)
    min_values: int = 8
    exploration_floor: float = 2.0  # percent every surviving version keeps at least
    floor_iterations: float = 2.0  # ... and enough requests that, at its limit's rate, one bad
    # event is expected within this many iterations (`allocation.floor`)
    # a candidate with P(feasible) below this whose harm e-value exceeds 1, on an objective with
    # at least `likely_failing_events` bad events expected at its limit, is likely failing
    # (`allocation.likely_failing`): given up once that objective cannot be proven by the
    # horizon at the share it has (`objectives.stalled`; bench: a 1.2%-error canary ends in a
    # median of 8 iterations, not 20, with 10% fewer bad requests), and with
    # `hold_likely_failing` also kept at its floor meanwhile (fewer bad requests still, but a
    # compliant candidate held by early noise rarely recovers at its floor: bench
    # canary-heavy-tail-under 94% -> 90% correct, 300 runs)
    likely_failing: float = 0.5
    likely_failing_events: float = 10.0
    hold_likely_failing: bool = False
    # Canary: a live candidate at least this likely feasible gets every vote (`allocation.ridden`):
    # it rides the increment cap, since its own requests are all its proof needs; below it,
    # its Thompson share. 0.15: a compliant candidate whose p95 posterior dips early keeps
    # being measured (bench canary-heavy-tail-under 94.3% -> 95.1% correct, 1,000 runs; at
    # 0.5, 94.4%), at ~+10-30% bad requests in the near-limit canaries (count-lost, errors-slight)
    # Not where every candidate is judged by values alone (`evidence.uncounted`): their proof is
    # in iterations, so the ride bought nothing but bad requests (bench canary-bare-errors-slight
    # 15,634 -> 10,725 per run, canary-bare-values 86.7% -> 86.5% correct, 1,000 runs)
    canary_ride: float = 0.15
    # A/B(/N): Thompson votes raised to this power before the split (`allocation.sharpened`);
    # under 1 flattens them, keeping a trailing candidate measured: the reward test's power.
    # 0: an equal split among the live versions (the candidate still ramps +10 a step to it),
    # the fixed design's allocation, so the reward boundary reaches its horizon information and
    # needs less of α (`sequential.MIXTURE_SHARE`): bench ab-no-difference 97.7% -> 98.9%
    # correct with ab-slightly-better 86.9% -> 87.1% (1,000 runs), for more baseline requests
    # where the candidate is better (ab-slightly-better 12.6k -> 17.1k). Only where the reward
    # is counted in requests: a reward of values is proven in iterations at any share, so there
    # Thompson's votes stand (bench gauge-mock-worse 3,821 -> 835 inferior requests a run,
    # gauge-mock-better 12,365 -> 11,657, 300 runs)
    vote_power: float = 0.0
    # A/B(/N): a candidate at least this likely best (P(best)) leaves the equal split and rides
    # the increment cap (`allocation.leader`): ab-slightly-better 17,022 -> 14,794 inferior
    # requests a run, 89.7% -> 88.7% correct; at 0.9 or 0.95, 13,600-14,000 and 88.0% (300
    # runs each). Pareto: the probability of dominating the baseline (`allocation.dominance`):
    # pareto 13,709 -> 11,557 inferior requests a run, median 11 -> 10 iterations, 99.5%
    # correct (1,000 runs)
    leader_ride: float = 0.97
    # A/B/N, two or more candidates live: one whose P(best) is under this keeps only that share
    # (`allocation.trailing_cut`)
    trailing_vote: float = 0.1
    baseline_floor: float = 0.0  # percent the baseline keeps in A/B(/N): the reference of tests
    tau: float = 0.05  # mixture scale of the normal tests, in per-request standard deviations
    minimum_effect: float = 0.05  # relative reward gain whose posterior probability is reported
    pareto_tolerance: float = 0.2  # Pareto: "not worse" allows this share of the baseline's value
    use_horizon: bool = True  # a mixture tuned to the horizon and the reward boundary
    mean_cv_prior: float = 1.0  # per-request sd / mean, for means without a histogram
    srm_p_value: float = 0.001  # sample-ratio mismatch threshold (chi-square p-value)
    soft_constraints: bool = False  # logistic instead of 0/1 SLO feasibility in Thompson sampling
    soft_sharpness: float = 10.0  # logistic slope per relative margin (the v1 research fork's a)
    history: int = 20  # iterations kept in `details.history`
    # iterations in a row with a version that has no evidence at all before the experiment
    # ends as `no-data` (`bayes.evidence`): a candidate is first measured in iteration 2 (at
    # the exploration floor) and a value needs two iterations, so 5 leaves room for the start
    # and two lost iterations, and a broken metrics setup ends well before Iter8's default of
    # 15 iterations (at 5–10 s intervals: under a minute of failed queries)
    no_data_iterations: int = 5
    no_data_rollback: bool = True  # `no-data` ends as rollback (else as no-winner)


# What an annotation may set, where a value outside would break the analysis or bound nothing:
# an Experiment's author controls annotations, so `draws: 1e9` would take the analyze function's
# memory, and a NaN threshold compares false with everything (a ride that never stops)
BOUNDS: dict[str, tuple[float, float]] = {
    "alpha": (1e-6, 0.5),
    "draws": (100, 100_000),
    "min_values": (1, 1_000),
    "history": (0, 1_000),
    "no_data_iterations": (1, 10_000),
    "likely_failing": (0.0, 1.0),
    "canary_ride": (0.0, 1.0),
    "leader_ride": (0.0, 1.0),
    "trailing_vote": (0.0, 1.0),
}


def settings_from_annotations(annotations: dict[str, str] | None, base: Settings) -> Settings:
    """`base` with every `iter8.tools/bayesian.<field>` annotation applied; bad values (not a
    number, not finite, outside `BOUNDS`) ignored."""
    if not annotations:
        return base
    changes: dict[str, Any] = {}
    for field in fields(Settings):
        text = annotations.get(ANNOTATION_PREFIX + field.name)
        if text is None:
            continue
        try:
            if field.type in ("bool", bool):
                changes[field.name] = text.strip().lower() in ("1", "true", "yes")
                continue
            value = int(text) if field.type in ("int", int) else float(text)
        except ValueError:
            continue
        low, high = BOUNDS.get(field.name, (-math.inf, math.inf))
        if math.isfinite(value) and low <= value <= high:
            changes[field.name] = value
    return replace(base, **changes)
