"""The simulated system under experiment: aggregated counts per iteration, never single requests.

Each iteration routes `traffic` requests by the weights in force (a multinomial split), then per
version draws errors, conversions and signups (binomial) and a latency histogram (multinomial
over the buckets). Metrics are cumulative since the start, as Iter8 queries them. The inputs
users really have, each a switch of the scenario:
* `drop`: each (metric, version) query fails with this probability and is reported as an error,
  as a flaky backend would; a rate is lost with its request count unless `independent_loss`
  (then the rate, a query of its own, answers even when the count's query failed);
* `lag`: every query answers with the cumulative value of `lag` iterations ago (the first
  iterations have no data at all), as a scrape or export delay would;
* `pooled`: the queries do not select the version (a query written without a label matcher on
  `$name`, the version's name), so every version is answered the totals over all of them;
* `bare`: the backend answers bare values (no request count, no sample size, no histogram),
  as a REST API or an APM's summary does;
* the `engagement` reward is a gauge without a sample size, drawn by Iter8 v2's mock provider
  itself (`2x·Beta(t, t)`, t the elapsed seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bench.scenarios import EDGES, P95_LIMIT, Scenario
from iter8.analytics.observations import Bucket, Histogram, Observation, Observations
from iter8.api.experiment import VersionDetail
from iter8.api.metric import Metric
from iter8.metrics.provider import FetchRequest
from iter8.metrics.providers.mock import PROVIDER as MOCK

NAMESPACE = "bench"
REQUESTS = f"{NAMESPACE}/request-count"
ERRORS = f"{NAMESPACE}/error-rate"
P95 = f"{NAMESPACE}/latency-95th-percentile"
CONVERSION = f"{NAMESPACE}/conversion-rate"
ENGAGEMENT = f"{NAMESPACE}/user-engagement"
SIGNUP = f"{NAMESPACE}/signup-rate"
REWARD_METRICS = {"conversion": CONVERSION, "engagement": ENGAGEMENT, "signup": SIGNUP}
LIMIT_INDEX = EDGES.index(P95_LIMIT)  # buckets from here on are above the p95 limit
_LOWERS = np.array(EDGES[:-1], dtype=float)
_UPPERS = np.array(EDGES[1:], dtype=float)


@dataclass
class Snapshot:
    """What the metrics backend would answer now; None where a query failed."""

    requests: list[float | None]  # the request-count query
    errors: list[float | None]  # counts behind the error-rate query
    conversions: list[float | None]  # counts behind the conversion-rate query
    histograms: list[np.ndarray | None]  # bucket counts
    # the requests the backend divides by in its rate queries (the true cumulative count)
    totals: list[float] = field(default_factory=list)
    signups: list[float | None] = field(default_factory=list)  # counts, when measured
    engagement: list[float | None] = field(default_factory=list)  # gauge values, when measured
    independent: bool = False  # a rate answers even when its count's query failed
    bare: bool = False  # values only: no sample size, no histogram
    empty: bool = False  # nothing recorded yet: every query answers "no data"

    def rate(self, counts: Sequence[float | None], i: int) -> float | None:
        """A rate query's answer for version i: None when it failed (or, with rates lost
        together with their counts, when the count's query failed); NaN without requests."""
        if counts[i] is None or (not self.independent and self.requests[i] is None):
            return None
        total = self.totals[i] if self.totals else self.requests[i]
        return float(counts[i]) / total if total else float("nan")  # type: ignore[operator]

    def has_data(self, i: int) -> bool:
        """Did any query about version i answer with something measured?"""
        if self.empty:
            return False
        rates = [self.rate(c, i) for c in (self.errors, self.conversions, self.signups) if c]
        histogram = self.histograms[i]
        return (
            bool(self.requests[i])
            or any(r is not None and r == r for r in rates)  # r == r: not NaN
            or (histogram is not None and histogram.sum() > 0)
            or bool(self.engagement and self.engagement[i] is not None)
        )


@dataclass(frozen=True)
class _State:
    """The cumulative counts after some number of intervals."""

    intervals: int
    requests: np.ndarray
    errors: np.ndarray
    conversions: np.ndarray
    signups: np.ndarray
    histograms: np.ndarray

    def pooled(self) -> _State:
        """Every version's counts replaced by the totals over all versions."""

        def total(counts: np.ndarray) -> np.ndarray:
            return np.broadcast_to(counts.sum(axis=0), counts.shape).copy()

        return _State(
            self.intervals,
            total(self.requests),
            total(self.errors),
            total(self.conversions),
            total(self.signups),
            total(self.histograms),
        )


class World:
    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        self.scenario = scenario
        self.rng = rng
        size = len(scenario.arms)
        self.requests = np.zeros(size)
        self.errors = np.zeros(size)
        self.conversions = np.zeros(size)
        self.signups = np.zeros(size)
        self.histograms = np.zeros((size, len(EDGES) - 1))
        self.intervals = 0
        self.history = [self._state()]  # the state after each serve, for late metrics
        self._errors = np.array([a.error for a in scenario.arms])
        self._conversions = np.array([a.conversion for a in scenario.arms])
        self._signups = np.array([a.signup for a in scenario.arms])
        self._buckets = np.array([a.latency.bucket_probabilities for a in scenario.arms])
        self._signup_used = "signup" in scenario.rewards
        self._engagement = metric_definitions(scenario).get(ENGAGEMENT)

    def serve(self, weights: Sequence[int], intervals: int = 1) -> np.ndarray:
        """`intervals` intervals of traffic at `weights` (percent), drawn at once (a sum of
        multinomials with one split is one multinomial); returns requests per version."""
        share = np.asarray(weights, dtype=float)
        share = share / share.sum()
        served = self.rng.multinomial(self.scenario.traffic * intervals, share).astype(float)
        self.requests += served
        self.errors += self.rng.binomial(served.astype(np.int64), self._errors)
        self.conversions += self.rng.binomial(served.astype(np.int64), self._conversions)
        if self._signup_used:
            self.signups += self.rng.binomial(served.astype(np.int64), self._signups)
        for i, n in enumerate(served):
            if n > 0:
                self.histograms[i] += self.rng.multinomial(int(n), self._buckets[i])
        self.intervals += intervals
        if self.scenario.lag:
            self.history = [*self.history[-self.scenario.lag :], self._state()]
        return served

    def snapshot(self) -> Snapshot:
        scenario = self.scenario
        state = self.history[0] if scenario.lag else self._state()
        if scenario.pooled:
            state = state.pooled()
        drop, size = scenario.drop, len(self.requests)
        lost = self.rng.random((4, size)) < drop if drop > 0 else np.zeros((4, size), dtype=bool)
        measured = self._signup_used or self._engagement is not None
        extra = (  # drawn only where measured, so the other scenarios keep their random streams
            self.rng.random((2, size)) < drop
            if drop > 0 and measured
            else np.zeros((2, size), dtype=bool)
        )

        def keep(lost_row: np.ndarray, values: np.ndarray) -> list[float | None]:
            return [None if lost_row[i] else float(values[i]) for i in range(size)]

        histograms = [None if lost[3, i] else state.histograms[i].copy() for i in range(size)]
        return Snapshot(
            keep(lost[0], state.requests),
            keep(lost[1], state.errors),
            keep(lost[2], state.conversions),
            histograms,
            totals=state.requests.tolist(),
            signups=keep(extra[0], state.signups) if self._signup_used else [],
            engagement=self._gauge(state, extra[1]),
            independent=scenario.independent_loss,
            bare=scenario.bare,
            empty=state.intervals == 0,
        )

    def _gauge(self, state: _State, lost: np.ndarray) -> list[float | None]:
        """The engagement gauge as Iter8 v2's mock provider answers it, t seconds in."""
        if self._engagement is None:
            return []
        elapsed = max(1, state.intervals * self.scenario.interval)
        return [
            None
            if lost[i]
            else MOCK.fetch(
                FetchRequest(
                    self._engagement,
                    VersionDetail(name=name),
                    elapsed_seconds=elapsed,
                    rng=self.rng,
                )
            ).value
            for i, name in enumerate(self.scenario.versions)
        ]

    def _state(self) -> _State:
        return _State(
            self.intervals,
            self.requests.copy(),
            self.errors.copy(),
            self.conversions.copy(),
            self.signups.copy(),
            self.histograms.copy(),
        )


def p95_of(counts: np.ndarray) -> float:
    """The 95th percentile of a histogram, interpolated inside its bucket (as Prometheus does)."""
    total = counts.sum()
    if total <= 0:
        return float("nan")
    cumulative = np.cumsum(counts) / total
    index = min(int(np.searchsorted(cumulative, 0.95)), len(counts) - 1)
    before = cumulative[index - 1] if index > 0 else 0.0
    inside = cumulative[index] - before
    fraction = (0.95 - before) / inside if inside > 0 else 0.0
    return float(_LOWERS[index] + fraction * (_UPPERS[index] - _LOWERS[index]))


def observations(snapshot: Snapshot, names: Sequence[str]) -> Observations:
    """The snapshot as the analysis receives it: one Observation per metric and version."""
    failed = Observation.model_construct(outcome="error", value=None, sample_size=None,
                                         histogram=None, message="query failed")  # fmt: skip
    result: Observations = {REQUESTS: {}, ERRORS: {}, P95: {}, CONVERSION: {}}
    if snapshot.signups:
        result[SIGNUP] = {}
    if snapshot.engagement:
        result[ENGAGEMENT] = {}
    rates = [(ERRORS, snapshot.errors), (CONVERSION, snapshot.conversions)]
    if snapshot.signups:
        rates.append((SIGNUP, snapshot.signups))
    for i, name in enumerate(names):
        if snapshot.empty:
            for answers in result.values():
                answers[name] = _nodata()
            continue
        n = snapshot.requests[i]
        result[REQUESTS][name] = failed if n is None else _value(n, None)
        for key, counts in rates:
            rate = snapshot.rate(counts, i)
            if rate is None:
                result[key][name] = failed
            elif rate != rate:  # NaN: no requests yet
                result[key][name] = _nodata()
            else:
                result[key][name] = _value(rate, None)  # the sampleSize metric is REQUESTS
        histogram = snapshot.histograms[i]
        if histogram is None:
            result[P95][name] = failed
        elif histogram.sum() == 0:
            result[P95][name] = _nodata()
        elif snapshot.bare:
            result[P95][name] = _value(p95_of(histogram), None)
        else:
            result[P95][name] = Observation.model_construct(
                outcome="ok",
                value=p95_of(histogram),
                sample_size=float(histogram.sum()),
                histogram=_histogram(histogram),
                message=None,
            )
        if snapshot.engagement:
            gauge = snapshot.engagement[i]
            result[ENGAGEMENT][name] = failed if gauge is None else _value(gauge, None)
    return result


def metric_definitions(scenario: Scenario | None = None) -> dict[str, Metric]:
    """The Metric documents of the bench: rates name their sample size, as Iter8 v2's did; the
    engagement gauge has none, and mock levels per version as in the Istio quick start."""
    sized = {} if scenario is not None and scenario.bare else {"sampleSize": REQUESTS}
    documents: dict[str, dict[str, object]] = {
        REQUESTS: {"type": "Counter", **_since_start("requests_total")},
        ERRORS: {"type": "Gauge", **sized, **_since_start("errors_total")},
        P95: {"type": "Gauge", **sized, "units": "msec", **_since_start("latency_bucket")},
        CONVERSION: {"type": "Gauge", **sized, **_since_start("conversions_total")},
    }
    rewards = scenario.rewards if scenario is not None and scenario.pattern != "Canary" else ()
    if "signup" in rewards:
        documents[SIGNUP] = {"type": "Gauge", "sampleSize": REQUESTS}
    if "engagement" in rewards:
        assert scenario is not None
        levels = [
            {"name": name, "level": f"{arm.engagement:g}"}
            for name, arm in zip(scenario.versions, scenario.arms, strict=True)
        ]
        documents[ENGAGEMENT] = {"type": "Gauge", "mock": levels}
    return {
        key: Metric.from_wire(
            {"metadata": {"name": key.split("/")[1], "namespace": NAMESPACE}, "spec": spec}
        )
        for key, spec in documents.items()
    }


def _since_start(series: str) -> dict[str, object]:
    """A query over the experiment so far, as Iter8 v2's were: the values are cumulative."""
    query = f'sum(increase({series}{{revision="$name"}}[${{elapsedTime}}s]))'
    return {"params": [{"name": "query", "value": query}]}


def _value(value: float, n: float | None) -> Observation:
    return Observation.model_construct(
        outcome="ok", value=float(value), sample_size=n, histogram=None, message=None
    )


def _nodata() -> Observation:
    return Observation.model_construct(
        outcome="no-data", value=None, sample_size=None, histogram=None, message="no requests yet"
    )


def _histogram(counts: np.ndarray) -> Histogram:
    buckets = [
        Bucket.model_construct(lower=float(lo), upper=float(up), count=float(c))
        for lo, up, c in zip(_LOWERS, _UPPERS, counts, strict=True)
    ]
    return Histogram.model_construct(buckets=buckets)
