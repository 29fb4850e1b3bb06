"""What `metrics/collect` measured per version: the data behind the built-in metrics.

The wire shape is Iter8 v2's `status.analysis.aggregatedBuiltinHists.data` (Fortio's result
per version: `DurationHistogram{Count, Min, Max, Sum, Data[{Start, End, Count}]}` in seconds and
`RetCodes{code: count}`, with `-1` for "no response"), so an Iter8 v2 status loads as is. Data
from several loops accumulates with `merge`, as Iter8 did.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.alias_generators import to_pascal

NO_RESPONSE = "-1"  # Fortio's return code for a request that got no HTTP response

# Latency buckets are log-spaced: 20 per decade from 10 µs, so a bucket is 12% wide and a
# percentile read from buckets is off by at most that, whatever the scale of the latencies.
_BASE = 1e-5
_PER_DECADE = 20


class _Fortio(BaseModel):
    model_config = ConfigDict(
        extra="allow", populate_by_name=True, frozen=True, alias_generator=to_pascal
    )


class LatencyBucket(_Fortio):
    """`count` requests took between `start` and `end` seconds."""

    start: float
    end: float
    count: int = Field(ge=0)


class DurationHistogram(_Fortio):
    count: int = Field(default=0, ge=0)
    min: float | None = None
    max: float = 0.0
    sum: float = 0.0  # seconds
    data: list[LatencyBucket] = Field(default_factory=list)


class VersionData(_Fortio):
    duration_histogram: DurationHistogram = Field(default_factory=DurationHistogram)
    ret_codes: dict[str, int] = Field(default_factory=dict)

    @property
    def errors(self) -> int:
        """Responses with status ≥ 400, plus requests that got no response at all."""
        return sum(n for code, n in self.ret_codes.items() if _is_error(code))


class BuiltinHists(RootModel[dict[str, VersionData]]):
    """Version name → its data."""

    root: dict[str, VersionData] = Field(default_factory=dict)

    def get(self, version: str) -> VersionData | None:
        return self.root.get(version)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _is_error(code: str) -> bool:
    try:
        return int(code) >= 400 or int(code) < 0
    except ValueError:
        return True  # a code we cannot read is not a success


def bucket_of(seconds: float) -> tuple[float, float]:
    """The log-spaced bucket holding a latency; the first one starts at 0."""
    if seconds < _BASE:
        return 0.0, _BASE
    k = math.floor(_PER_DECADE * math.log10(seconds / _BASE))
    start, end = _edge(k), _edge(k + 1)
    if seconds < start:  # floating-point error at an edge
        return _edge(k - 1), start
    if seconds >= end:
        return end, _edge(k + 2)
    return start, end


def _edge(k: int) -> float:
    return float(f"{_BASE * 10 ** (k / _PER_DECADE):.6g}")


def version_data(latencies: Iterable[tuple[float, str]]) -> VersionData:
    """Summarise `(seconds, return code)` pairs, one per request."""
    buckets: dict[tuple[float, float], int] = {}
    codes: dict[str, int] = {}
    count, total, low, high = 0, 0.0, math.inf, 0.0
    for seconds, code in latencies:
        count += 1
        total += seconds
        low, high = min(low, seconds), max(high, seconds)
        key = bucket_of(seconds)
        buckets[key] = buckets.get(key, 0) + 1
        codes[code] = codes.get(code, 0) + 1
    histogram = DurationHistogram(
        count=count,
        min=low if count else None,
        max=high,
        sum=total,
        data=[LatencyBucket(start=s, end=e, count=n) for (s, e), n in sorted(buckets.items())],
    )
    return VersionData(duration_histogram=histogram, ret_codes=codes)


def merge_version(a: VersionData, b: VersionData) -> VersionData:
    """Counts and sums add, max of max, min of min, same-bounds buckets add, codes add."""
    ha, hb = a.duration_histogram, b.duration_histogram
    buckets: dict[tuple[float, float], int] = {}
    for bucket in [*ha.data, *hb.data]:
        key = (bucket.start, bucket.end)
        buckets[key] = buckets.get(key, 0) + bucket.count
    mins = [m for m in (ha.min, hb.min) if m is not None]
    histogram = DurationHistogram(
        count=ha.count + hb.count,
        min=min(mins) if mins else None,
        max=max(ha.max, hb.max),
        sum=ha.sum + hb.sum,
        data=[LatencyBucket(start=s, end=e, count=n) for (s, e), n in sorted(buckets.items())],
    )
    codes = dict(a.ret_codes)
    for code, n in b.ret_codes.items():
        codes[code] = codes.get(code, 0) + n
    return VersionData(duration_histogram=histogram, ret_codes=codes)


def merge(a: BuiltinHists | None, b: BuiltinHists | Mapping[str, VersionData]) -> BuiltinHists:
    """`a` accumulated with `b`, version by version (the loop-over-loop update)."""
    added = b.root if isinstance(b, BuiltinHists) else b
    result = dict(a.root) if a is not None else {}
    for version, data in added.items():
        result[version] = merge_version(result[version], data) if version in result else data
    return BuiltinHists(result)
