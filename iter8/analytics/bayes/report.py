"""The numbers behind a step, as JSON-safe `details` (DESIGN principle 5: explain every decision)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.draws import summaries
from iter8.analytics.bayes.objectives import Check
from iter8.analytics.bayes.rewards import Comparison
from iter8.analytics.bayes.srm import SrmResult

# format specs built once: `number` is called ~10³ times a step
_SPECS = {digits: f".{digits}g" for digits in (3, 4, 6)}


def number(x: float | None, digits: int = 6) -> float | None:
    """A finite float rounded for reading, or None (JSON has no infinity)."""
    if x is None or not math.isfinite(x):
        return None
    return float(format(x, _SPECS.get(digits) or f".{digits}g"))


def log_e(x: float) -> float | str:
    """A log e-value for JSON: infinities spelled out."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return round(x, 4)


def posteriors(
    beliefs: Mapping[str, Mapping[str, Belief]],
    draws: Mapping[str, Mapping[str, np.ndarray]],
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    sampled: list[tuple[dict[str, Any], np.ndarray]] = []
    for key, per_version in beliefs.items():
        for version, belief in per_version.items():
            entry: dict[str, Any] = {
                "kind": belief.kind,
                "value": number(belief.value),
                "evidence": belief.basis if belief.evidence else "no data",
            }
            if belief.n:
                entry["n"] = number(belief.n)
            sample = draws.get(key, {}).get(version)
            if sample is not None:
                sampled.append((entry, sample))
            result.setdefault(key, {})[version] = entry
    for (entry, _), mean, low, high in zip(
        sampled, *summaries([s for _, s in sampled]), strict=True
    ):
        entry["mean"] = number(mean)
        entry["ci95"] = [number(low), number(high)]
    return result


def checks(per_version: Mapping[str, Sequence[Check]]) -> dict[str, Any]:
    return {
        version: [
            {
                "objective": c.limits.describe(),
                "pHolds": number(c.probability, 4),
                "logEHolds": log_e(c.log_e_holds),
                "logEFails": log_e(c.log_e_fails),
                "verdict": c.verdict,
                "futile": c.futile,
            }
            for c in items
        ]
        for version, items in per_version.items()
    }


def comparisons(
    keys: Sequence[str], per_reward: Sequence[Mapping[tuple[str, str], Comparison]]
) -> list[dict[str, Any]]:
    return [
        {
            "reward": key,
            "better": c.better,
            "than": c.other,
            "delta": number(c.delta),
            "cs": [number(c.delta - c.radius), number(c.delta + c.radius)] if c.testable else None,
            "pBetter": number(c.probability, 4),
            "pGain": number(c.gain_probability, 4),
            "logE": log_e(c.log_e),
            "logEWorse": log_e(c.log_e_worse),
            "tested": c.testable,
        }
        for key, pairs in zip(keys, per_reward, strict=True)
        for c in pairs.values()
    ]


def srm(result: SrmResult) -> dict[str, Any]:
    return {
        "pValue": number(result.p_value, 4),
        "mismatch": result.mismatch,
        "observed": {k: number(v) for k, v in result.observed.items()},
        "expected": {k: number(v) for k, v in result.expected.items()},
    }


def more_needed(
    beliefs: Mapping[str, Mapping[str, Belief]],
    per_version: Mapping[str, Sequence[Check]],
    alpha: float,
) -> dict[str, str]:
    """Per version with an objective not yet settled, roughly how much more it takes: the
    normal approximation: log-evidence grows by δ²/2σ² per request (σ per request, per
    iteration for a value without a sample size; δ the distance between the estimate and the
    nearest limit) and must reach ln(1/α) plus what the mixture costs (the gap between that and
    the e-value seen now). A rough, stated guide, not a promise."""
    result: dict[str, str] = {}
    for version, items in per_version.items():
        worst: tuple[float, str] | None = None
        for c in items:
            belief = beliefs.get(c.limits.key, {}).get(version)
            if c.verdict in ("holds", "fails") or c.limits.relative or belief is None:
                continue
            guess = _needed(belief, c, alpha)
            if guess is not None and (worst is None or guess[0] > worst[0]):
                worst = guess
        if worst is not None:
            amount, unit = worst
            result[version] = (
                f"≈ {amount:,.0f} more {unit}"
                if math.isfinite(amount)
                else (f"more {unit} than can be estimated (the estimate sits on the limit)")
            )
    return result


def _needed(belief: Belief, check: Check, alpha: float) -> tuple[float, str] | None:
    limits = [x for x in (check.limits.upper, check.limits.lower) if x is not None]
    if not limits or not belief.evidence:
        return None
    if belief.kind == "value":
        if belief.series is None:
            return None
        # a value since the start: its weights are shares of an iteration's traffic
        have, unit, sd, value = (
            belief.series.weight,
            "iterations of all the traffic" if belief.since_start else "iterations",
            belief.series.sd,
            belief.value,
        )
    elif belief.kind == "rate":
        p = min(max(belief.value, 1e-6), 1 - 1e-6)
        have, unit, sd, value = belief.n, "requests", math.sqrt(p * (1 - p)), belief.value
    elif belief.kind in ("mean", "percentile"):
        have, unit, sd, value = belief.n, "requests", belief.unit_sd, belief.value
    else:
        return None
    if belief.kind == "percentile":  # the share of requests beyond the limit, as a rate
        share = float(belief.counts[belief.uppers > limits[0]].sum() / max(belief.counts.sum(), 1))
        target = 1 - belief.quantile if check.limits.upper is not None else belief.quantile
        sd, value, limits = math.sqrt(max(share * (1 - share), 1e-6)), share, [target]
    distance = min(abs(value - limit) for limit in limits)
    if distance <= 0 or sd <= 0:
        return math.inf, unit
    per_unit = distance * distance / (2 * sd * sd)  # log-evidence gained per request (or value)
    # the mixture's price so far: what the data would give a test knowing the effect, less what
    # the e-value shows (the price grows slowly with n; this keeps today's)
    shown = max(check.log_e_holds, check.log_e_fails)
    price = max(have * per_unit - shown, 0.0) if math.isfinite(shown) else 0.0
    needed = (math.log(1 / alpha) + price) / per_unit
    return max(needed - have, 0.0), unit
