"""What one analysis step leaves for the next, kept in `AnalysisResult.details` and read back
from `status.analysis.details` (where `assessment.status_analysis` puts it). Bounded: the last
known observation per metric and version, O(versions) SRM sums, and `Settings.history` entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from iter8.analytics.bayes import shared_values, validity
from iter8.analytics.bayes.beliefs import Buckets
from iter8.analytics.bayes.iterations import Series
from iter8.analytics.bayes.srm import SrmState
from iter8.api.experiment import Experiment

ALGORITHM_NAME = "bayesian"


@dataclass(frozen=True)
class Known:
    """The last observation that arrived, with its sample size already resolved (a rate and
    its n from the same iteration), and for a value without one the per-iteration summary."""

    value: float
    n: float | None
    histogram: Buckets | None  # lowers, uppers, counts
    iteration: int
    series: Series | None = None
    exposure: float | None = None  # a value since the start: the version's exposure then

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {"value": self.value, "iteration": self.iteration}
        if self.n is not None:
            data["n"] = self.n
        if self.histogram is not None:
            data["histogram"] = np.stack(self.histogram, axis=1).tolist()
        if self.series is not None:
            data["series"] = self.series.to_wire()
        if self.exposure is not None:
            data["exposure"] = self.exposure
        return data

    @classmethod
    def from_wire(cls, data: Any) -> Known | None:
        try:
            histogram = None
            if data.get("histogram"):
                table = np.asarray(data["histogram"], dtype=float).reshape(-1, 3)
                histogram = (table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy())
            n = data.get("n")
            value, size = float(data["value"]), None if n is None else float(n)
            series = Series.from_wire(data["series"]) if "series" in data else None
            exposure = _exposure(data.get("exposure"))
            known = cls(value, size, histogram, int(data.get("iteration", 0)), series, exposure)
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError):
            return None
        problem = validity.problem(known.value, known.n, known.histogram, counter=False)
        return None if problem else known


@dataclass(frozen=True)
class Carried:
    known: dict[str, dict[str, Known]] = field(default_factory=dict)
    srm: SrmState = field(default_factory=SrmState)
    history: list[dict[str, Any]] = field(default_factory=list)
    traffic: float | None = None  # requests per iteration, fixed at the first look that had any
    pairs: dict[str, dict[str, Series]] = field(default_factory=dict)  # key → "a|b" → a − b
    without_data: int = 0  # iterations in a row with a version that has no evidence at all
    # the first bayesian step's iteration and the split in force then, set before any data
    # were seen: with Iter8's caps they bound every candidate's requests (`allocation.most_requests`)
    ramp: tuple[int, dict[str, int]] | None = None
    shared: shared_values.State = field(default_factory=dict)  # metric → its values shared or own?
    exposure: dict[str, float] = field(
        default_factory=dict
    )  # version → shares so far (`cumulative`)
    elapsed: float | None = None  # seconds since the start at this step, when known

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "known": {k: {v: o.to_wire() for v, o in per.items()} for k, per in self.known.items()},
            "srm": self.srm.to_wire(),
            "withoutData": self.without_data,
        }
        if self.pairs:
            data["pairs"] = {
                k: {p: s.to_wire() for p, s in per.items()} for k, per in self.pairs.items()
            }
        if self.traffic is not None:
            data["traffic"] = self.traffic
        if self.ramp is not None:
            data["ramp"] = {"iteration": self.ramp[0], "weights": self.ramp[1]}
        if self.shared:
            data["shared"] = self.shared
        if self.exposure:
            data["exposure"] = self.exposure
        if self.elapsed is not None:
            data["elapsed"] = self.elapsed
        return data


def previous(experiment: Experiment) -> Carried:
    """The state the last bayesian step left in the experiment's status, or a fresh one."""
    details = _details(experiment)
    if details.get("algorithm") != ALGORITHM_NAME:
        return Carried()
    state = details.get("state")
    state = state if isinstance(state, Mapping) else {}
    known: dict[str, dict[str, Known]] = {}
    for key, per_version in _mapping(state.get("known")).items():
        if isinstance(per_version, Mapping):
            entries = {v: Known.from_wire(o) for v, o in per_version.items()}
            known[key] = {v: o for v, o in entries.items() if o is not None}
    pairs: dict[str, dict[str, Series]] = {}
    for key, per_pair in _mapping(state.get("pairs")).items():
        if isinstance(per_pair, Mapping):
            read = {p: Series.from_wire(s) for p, s in per_pair.items()}
            pairs[key] = {p: s for p, s in read.items() if s is not None}
    history = details.get("history")
    traffic = state.get("traffic")
    without = state.get("withoutData")
    return Carried(
        known=known,
        srm=SrmState.from_wire(state.get("srm")),
        history=[h for h in history if isinstance(h, dict)] if isinstance(history, list) else [],
        traffic=float(traffic) if isinstance(traffic, int | float) and traffic > 0 else None,
        pairs=pairs,
        without_data=int(without) if isinstance(without, int) and 0 <= without < 10**6 else 0,
        ramp=_ramp(state.get("ramp")),
        shared=shared_values.from_wire(state.get("shared")),
        exposure={
            str(v): e
            for v, raw in _mapping(state.get("exposure")).items()
            if (e := _exposure(raw)) is not None
        },
        elapsed=_exposure(state.get("elapsed")),
    )


def _exposure(value: Any) -> float | None:
    """An exposure (or the seconds since the start) read back: a finite, non-negative number
    below 10⁹, else none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value < 1e9 else None


def _ramp(value: Any) -> tuple[int, dict[str, int]] | None:
    """The recorded start of the ramp, or None when absent or malformed (then no bound is
    taken from it: every version may have all the traffic)."""
    data = _mapping(value)
    iteration, weights = data.get("iteration"), _mapping(data.get("weights"))
    if not isinstance(iteration, int) or not 0 < iteration < 10**6 or not weights:
        return None
    if not all(isinstance(w, int) and 0 <= w <= 100 for w in weights.values()):
        return None
    return iteration, {str(k): int(w) for k, w in weights.items()}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _details(experiment: Experiment) -> Mapping[str, Any]:
    analysis = experiment.status.analysis if experiment.status else None
    if analysis is None:
        return {}
    details = getattr(analysis, "details", None) or (analysis.model_extra or {}).get("details")
    if isinstance(details, Mapping) and "data" in details and "algorithm" not in details:
        details = details["data"]  # written as a v2-style block
    return details if isinstance(details, Mapping) else {}
