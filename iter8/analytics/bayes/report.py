"""The numbers behind a step, as JSON-safe `details` (DESIGN principle 5: explain every decision)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from iter8.analytics.bayes import projection
from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.draws import summaries
from iter8.analytics.bayes.objectives import Check, Limits
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
    judge: Callable[[str, Limits], projection.Judge],
) -> dict[str, str]:
    """Per version with an objective not yet settled, roughly how much more settles them all
    (`bayes.projection`; `judge`: the verdict of a version's objective on a belief, as the
    step judges it)."""
    result: dict[str, str] = {}
    for version, items in per_version.items():
        open_ = [
            (belief, judge(version, c.limits))
            for c in items
            if c.verdict not in ("holds", "fails")
            and not c.limits.relative
            and (belief := beliefs.get(c.limits.key, {}).get(version)) is not None
        ]
        guess = projection.more_to_settle(open_)
        if guess is not None:
            amount, unit = guess
            result[version] = (
                f"≈ {amount:,.0f} more {unit}"
                if math.isfinite(amount)
                else (f"more {unit} than can be estimated (the estimate sits on the limit)")
            )
    return result
