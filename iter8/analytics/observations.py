"""What the metrics providers hand to the analysis: one observation per metric and version.

An observation is either a number (with, where the backend knows it, the sample behind it and a
histogram), or an explicit "unknown" with the reason. Unknown is not bad: the analysis must
tell "the candidate is failing its SLO" from "we could not ask" (iter8-v2.md §8, weak spot 3).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal[
    "ok",  # a finite number came back
    "no-data",  # the backend answered, but had nothing for this version (e.g. no samples yet)
    "empty",  # the query returned an empty result set
    "nan",  # the backend returned NaN (e.g. 0/0)
    "timeout",  # the backend did not answer in time
    "error",  # the backend failed (5xx, refused connection, bad JSON, jq found no number)
]


class Bucket(BaseModel):
    """One histogram bucket: `count` observations in `(lower, upper]` (non-cumulative)."""

    model_config = ConfigDict(frozen=True)

    lower: float = 0.0
    upper: float
    count: float = Field(ge=0)


class Histogram(BaseModel):
    """A distribution kept raw, so percentiles get real uncertainty instead of a point."""

    model_config = ConfigDict(frozen=True)

    buckets: list[Bucket]

    @property
    def count(self) -> float:
        return sum(b.count for b in self.buckets)


class Observation(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: Outcome = "ok"
    value: float | None = None
    sample_size: float | None = Field(default=None, ge=0)
    histogram: Histogram | None = None
    message: str | None = None  # the backend's own words when something went wrong

    @property
    def known(self) -> bool:
        return self.outcome == "ok" and self.value is not None


# metric key (`namespace/name`) → version name → observation
Observations = dict[str, dict[str, Observation]]


def unknown(outcome: Outcome, message: str) -> Observation:
    return Observation(outcome=outcome, message=message)
