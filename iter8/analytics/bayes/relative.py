"""Objectives relative to the baseline (an extension; Iter8 v1 had them, v2 did not).

Written beside the v2 objectives, in the same shape, with ratios as limits:

    criteria:
      relativeObjectives:
      - metric: ns/latency-95th-percentile
        upperLimit: "1.1"      # a candidate's p95 ≤ 1.1 × the baseline's

A candidate meets it when its metric is within the ratio of the baseline's, measured at the same
time (so a slow day slows both). Evidence: the one-sided normal mixture on
Δ = ratio × baseline − candidate with variance ratio² V_b + V_c (anytime-valid, as for rewards);
P(holds) compares the two posteriors draw by draw. The baseline itself is not assessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.draws import share
from iter8.analytics.bayes.objectives import Check, Limits, Verdict
from iter8.analytics.bayes.rewards import estimate
from iter8.analytics.bayes.sequential import horizon_scale, log_e_normal
from iter8.api.experiment import Experiment
from iter8.api.quantity import parse_quantity
from iter8.api.references import resolve

FIELD = "relativeObjectives"


def relative_limits(experiment: Experiment) -> list[Limits]:
    """The relative objectives of the experiment; malformed entries are skipped."""
    criteria = experiment.spec.criteria
    entries: Any = (criteria.model_extra or {}).get(FIELD) if criteria else None
    found: list[Limits] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("metric"), str):
            continue
        try:
            lower = entry.get("lowerLimit")
            upper = entry.get("upperLimit")
            lower_ratio = None if lower is None else parse_quantity(lower)
            upper_ratio = None if upper is None else parse_quantity(upper)
        except ValueError:
            continue
        if lower_ratio is None and upper_ratio is None:
            continue
        key = str(resolve(entry["metric"], experiment.namespace))
        rollback = bool(entry.get("rollback_on_failure", False))
        found.append(Limits(key, lower_ratio, upper_ratio, rollback, relative=True))
    return found


def relative_mask(candidate: np.ndarray, baseline: np.ndarray, limits: Limits) -> np.ndarray:
    ok = np.ones(candidate.shape, dtype=bool)
    if limits.upper is not None:
        ok &= candidate <= limits.upper * baseline
    if limits.lower is not None:
        ok &= candidate >= limits.lower * baseline
    return ok.astype(float)


def check_relative(
    candidate: tuple[Belief, np.ndarray] | None,
    baseline: tuple[Belief, np.ndarray] | None,
    limits: Limits,
    alpha: float,
    tau: float,
    min_samples: float,
    n_star: float | None = None,
) -> Check:
    rho = horizon_scale(alpha, n_star)
    if candidate is None or baseline is None:
        return Check(limits, None, 0.0, 0.0, "unknown", 0.0)
    (c_belief, c_draws), (b_belief, b_draws) = candidate, baseline
    probability = share(relative_mask(c_draws, b_draws, limits))
    c, b = estimate(c_belief, c_draws), estimate(b_belief, b_draws)
    holds, fails = [], []
    for ratio, sign in ((limits.upper, 1.0), (limits.lower, -1.0)):
        if ratio is None:
            continue
        margin = sign * (ratio * b.value - c.value)
        variance = ratio * ratio * b.variance + c.variance
        pooled = math.sqrt((c.unit_sd**2 + (ratio * b.unit_sd) ** 2) / 2)
        tuned = None if rho is None else rho * pooled
        holds.append(log_e_normal(margin, variance, tau * pooled, tuned))
        fails.append(log_e_normal(-margin, variance, tau * pooled, tuned))
    testable = c.testable and b.testable
    threshold = math.log(1 / alpha)
    verdict: Verdict = "undecided"
    n = min(c_belief.n, b_belief.n)
    if not testable:  # no anytime-valid test: never proven to hold (`bayes.evidence`)
        verdict = "fails" if probability <= alpha else verdict
        return Check(limits, probability, 0.0, 0.0, verdict, n)
    log_e_holds, log_e_fails = min(holds), max(fails) - math.log(len(fails))
    if n >= min_samples and log_e_fails >= threshold:
        verdict = "fails"
    elif n >= min_samples and log_e_holds >= threshold:
        verdict = "holds"
    return Check(limits, probability, log_e_holds, log_e_fails, verdict, n, n)
