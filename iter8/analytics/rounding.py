"""Randomized integer rounding of a traffic split: integers that sum to exactly the total, and
whose expectation is the float split (Iter8 v2, iter8-v2.md §3.6 step 6).

Rounding each weight to nearest would bias small versions (3.33 → 3 every time) and not always
sum to 100; rounding up with probability equal to the fractional part, left to right over the
renormalised rest, does neither. The randomness comes from the caller's generator, so a seed
fixes the result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

TOLERANCE = 1e-9  # floating-point dust: 9.999999999999998 is 10, not "10 with probability 1e-15"


class UniformSource(Protocol):
    """Anything with `random() -> float` in [0, 1): `random.Random`, `numpy.random.Generator`."""

    def random(self) -> float: ...


def randomized_round(weights: Sequence[float], total: int, rng: UniformSource) -> list[int]:
    """Non-negative integers, one per weight, summing to `total`, each unbiased.

    Weights need not sum to `total`: they are renormalised (all zero ⇒ equal shares).
    """
    if total < 0:
        raise ValueError(f"total must be non-negative, not {total}")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError(f"weights must be finite and non-negative: {list(weights)}")
    result: list[int] = []
    remaining = total
    for index, weight in enumerate(weights):
        rest = weights[index:]
        if index == len(weights) - 1:
            value = remaining
        else:
            mass = math.fsum(rest)
            share = remaining * (weight / mass if mass > 0 else 1 / len(rest))
            value = min(max(_round_randomly(share, rng), 0), remaining)
        result.append(value)
        remaining -= value
    return result


def _round_randomly(share: float, rng: UniformSource) -> int:
    """floor(share) + 1 with probability frac(share), else floor(share)."""
    low = math.floor(share + TOLERANCE)
    fraction = share - low
    if fraction <= TOLERANCE:
        return low
    if fraction >= 1 - TOLERANCE:
        return low + 1
    return low + (1 if rng.random() < fraction else 0)
