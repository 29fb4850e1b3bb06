"""ISO-8601 durations (`PT0.2S`, `PT1M30S`, `P1D`), as Knative's delivery spec writes them.

Knative parses them with rickb777/date's `period`, whose conversion to a duration counts a year as
365.2425 days and a month as a twelfth of that; the same is done here.
"""

from __future__ import annotations

import re
from fractions import Fraction

_DURATION = re.compile(
    r"P(?:(?P<Y>\d+(?:[.,]\d+)?)Y)?(?:(?P<M>\d+(?:[.,]\d+)?)M)?(?:(?P<W>\d+(?:[.,]\d+)?)W)?"
    r"(?:(?P<D>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:[.,]\d+)?)H)?(?:(?P<m>\d+(?:[.,]\d+)?)M)?(?:(?P<s>\d+(?:[.,]\d+)?)S)?)?"
)
_DAY = Fraction(86_400)
_YEAR = Fraction("365.2425") * _DAY
_SECONDS = {"Y": _YEAR, "M": _YEAR / 12, "W": 7 * _DAY, "D": _DAY, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str) -> int:
    """Nanoseconds (Go's `time.Duration`) in an ISO-8601 duration; raises ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groupdict().values()) or text.strip().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO-8601 duration such as PT0.5S")
    seconds = sum(
        Fraction(value.replace(",", ".")) * _SECONDS[unit]
        for unit, value in match.groupdict().items()
        if value
    )
    return round(seconds * 1_000_000_000)
