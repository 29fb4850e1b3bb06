"""Which numbers are measurements: every value path of the analysis is total.

A backend can hand back anything a float can hold, and a status can be edited by hand. A value
that is not finite, beyond `LARGEST` in size, a negative count or sample size, or a histogram
with a negative, non-finite or upside-down bucket is not a measurement: the analysis treats it
as "unknown" and says why (`missingData.invalid`), instead of letting it reach the e-value code,
where 1e308 squared or a negative n would raise or turn into NaN.
"""

from __future__ import annotations

import math

import numpy as np

from iter8.analytics.bayes.beliefs import Buckets

LARGEST = 1e15  # larger magnitudes are not measurements (10^15 requests, bytes or ms is absurd)


def problem(
    value: float | None, n: float | None, histogram: Buckets | None, counter: bool
) -> str | None:
    """Why this observation is not a measurement, or None when it is one."""
    if value is None or not math.isfinite(value):
        return f"value {value} is not a finite number"
    if abs(value) > LARGEST:
        return f"value {value:g} is beyond ±{LARGEST:g}"
    if counter and value < 0:
        return f"a count cannot be negative ({value:g})"
    if n is not None and not (math.isfinite(n) and 0 <= n <= LARGEST):
        return f"sample size {n:g} is not a count between 0 and {LARGEST:g}"
    if histogram is not None:
        return _histogram_problem(histogram)
    return None


def _histogram_problem(histogram: Buckets) -> str | None:
    lowers, uppers, counts = histogram
    edges = np.abs(np.concatenate((lowers, uppers)))
    if not (edges <= LARGEST).all():  # NaN fails the comparison too
        return f"histogram bucket edges must be finite and within ±{LARGEST:g}"
    if (uppers < lowers).any():
        return "a histogram bucket's upper edge is below its lower edge"
    counted = f"histogram counts must be between 0 and {LARGEST:g}"
    if not (np.abs(counts) <= LARGEST).all():  # NaN and ±inf fail it: the sum below is finite
        return counted
    total = float(counts.sum())
    if not (0 <= total <= LARGEST) or counts.min(initial=0.0) < 0:
        return counted
    return None
