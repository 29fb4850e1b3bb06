"""The numbers behind a step, as JSON-safe `details` (DESIGN principle 5: explain every decision)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.draws import interval
from iter8.analytics.bayes.objectives import Check
from iter8.analytics.bayes.rewards import Comparison
from iter8.analytics.bayes.srm import SrmResult


def number(x: float | None, digits: int = 6) -> float | None:
    """A finite float rounded for reading, or None (JSON has no infinity)."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


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
    for key, per_version in beliefs.items():
        for version, belief in per_version.items():
            entry: dict[str, Any] = {"kind": belief.kind, "value": number(belief.value)}
            if belief.n:
                entry["n"] = number(belief.n)
            sample = draws.get(key, {}).get(version)
            if sample is not None:
                low, high = interval(sample)
                entry["mean"] = number(float(sample.mean()))
                entry["ci95"] = [number(low), number(high)]
            result.setdefault(key, {})[version] = entry
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
