"""From this iteration's observations to beliefs, version by version.

Missing data is "unknown", never "bad": a metric the backend did not give this time is taken
from the last observation that did arrive (metrics are cumulative since the start, so an older
value is still valid evidence, just less of it); a metric never seen has no belief at all.
A value's sample size is, in order: the observation's own `sample_size`, the value of the
metric its `sampleSize` names, the histogram's count; else there is none (`criteria.requestCount`
is not borrowed: a reward such as user engagement is not per request, and a wrong n would
invent certainty), and the value is judged by its variation across iterations
(`bayes.iterations`).

Consistent counts: a rate and its sample size come from the same moment. When a metric that
has a sample size arrives without it (the count's query failed), the pair from the last
iteration where both answered is kept, never the new value with an old n. Values that are not
measurements (`bayes.validity`) are unknown, with the reason in `invalid`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from iter8.analytics.bayes import cumulative, validity
from iter8.analytics.bayes.beliefs import Belief, buckets_of, make_belief, statistic
from iter8.analytics.bayes.iterations import Series
from iter8.analytics.bayes.settings import Settings
from iter8.analytics.bayes.state import Known
from iter8.analytics.observations import Observation, Observations
from iter8.api.builtin import builtin_metrics
from iter8.api.metric import Metric
from iter8.api.references import resolve


@dataclass(frozen=True)
class Gathered:
    beliefs: dict[str, dict[str, Belief]]  # metric key → version → belief (absent: unknown)
    known: dict[str, dict[str, Known]]  # what to carry to the next step
    pairs: dict[str, dict[str, Series]]  # value rewards: key → "a|b" → differences a − b
    requests: dict[str, float | None]  # per version, for the minimum sample
    fresh_requests: dict[str, float | None]  # per version, this iteration only (the SRM check)
    # this iteration's measured values, metric → version, routed metrics only
    # (`bayes.shared_values`)
    fresh_values: dict[str, dict[str, float]]
    stale: list[str] = field(default_factory=list)  # "key for version: from iteration k"
    unknown: list[str] = field(default_factory=list)  # "key for version: never observed"
    invalid: list[str] = field(default_factory=list)  # "key for version: why it is no number"
    answered: bool = False  # some query answered (or none was asked): nothing is failing


@dataclass(frozen=True)
class _Fresh:
    items: dict[str, dict[str, Known]]  # key → version → this iteration's consistent item
    unpaired: dict[str, set[str]]  # key → versions whose value came without its sample size
    invalid: list[str]
    answered: bool


def metric_for(key: str, metrics: Mapping[str, Metric]) -> Metric | None:
    if key in metrics:
        return metrics[key]
    namespace, _, name = key.rpartition("/")
    return builtin_metrics().get(resolve(key, namespace or "default")) if name else None


def gather(
    keys: Sequence[str],
    versions: Sequence[str],
    observations: Observations,
    metrics: Mapping[str, Metric],
    carried: Mapping[str, Mapping[str, Known]],
    request_key: str | None,
    namespace: str,
    iteration: int,
    settings: Settings,
    carried_pairs: Mapping[str, Mapping[str, Series]] | None = None,
    paired: Collection[str] = (),
    exposure: Mapping[str, float] | None = None,
) -> Gathered:
    """Beliefs for every key and version; `paired` keys (rewards) also keep, for values without
    a sample size, the per-iteration differences between every two versions; `exposure`: each
    version's shares of the traffic so far, to read values since the start (`bayes.cumulative`)."""
    counters = {key for key in keys if _counter(key, metrics)}
    since_start = {key for key in keys if cumulative.is_cumulative(metric_for(key, metrics))}
    fresh = _fresh(keys, versions, observations, metrics, counters, namespace, iteration)
    known: dict[str, dict[str, Known]] = {k: dict(v) for k, v in carried.items() if k in keys}
    pairs = {k: dict(v) for k, v in (carried_pairs or {}).items() if k in paired}
    stale: list[str] = []
    unknown: list[str] = []
    for key in keys:
        counter = key in counters
        added: dict[str, tuple[float, float]] = {}  # version → what this iteration added
        for version in versions:
            item, before = fresh.items.get(key, {}).get(version), known.get(key, {}).get(version)
            if item is not None:
                if item.n is None and item.histogram is None and not counter:
                    exposed = (exposure or {}).get(version) if key in since_start else None
                    item, step = _valued(item, before, exposed)
                    if step is not None:
                        added[version] = step
                known.setdefault(key, {})[version] = item
            elif before is not None:
                why = (
                    "its sample size did not arrive, "
                    if version in fresh.unpaired.get(key, ())
                    else ""
                )
                stale.append(f"{key} for {version}: {why}kept iteration {before.iteration}")
            else:
                why = (
                    "came without its sample size"
                    if version in fresh.unpaired.get(key, ())
                    else "never observed"
                )
                unknown.append(f"{key} for {version}: {why}")
        if key in paired:
            _pair(pairs.setdefault(key, {}), added, versions)
    beliefs: dict[str, dict[str, Belief]] = {}
    listed = set(versions)
    for key in keys:
        metric = metric_for(key, metrics)
        differences = pairs.get(key)
        for version, item in known.get(key, {}).items():
            if version not in listed:
                continue
            histogram = item.histogram
            kind, quantile = statistic(
                key, metric, histogram is not None, item.n is not None, item.value
            )
            beliefs.setdefault(key, {})[version] = make_belief(
                kind,
                item.value,
                item.n,
                histogram,
                quantile,
                settings.mean_cv_prior,
                item.series,
                _versus(differences, version, versions) if differences else {},
                since_start=item.exposure is not None,
            )
    requests = {version: _requests(version, beliefs, known, request_key) for version in versions}
    routed = {
        key: per_version for key, per_version in fresh.items.items() if not _synthetic(key, metrics)
    }
    routed_key = request_key if request_key in routed else None
    fresh_requests = {version: _fresh_requests(version, routed, routed_key) for version in versions}
    fresh_values = {
        key: {v: item.value for v, item in per_version.items()}
        for key, per_version in routed.items()
        if key not in counters
    }
    return Gathered(
        beliefs,
        known,
        pairs,
        requests,
        fresh_requests,
        fresh_values,
        stale,
        unknown,
        fresh.invalid,
        fresh.answered,
    )


def _fresh(
    keys: Sequence[str],
    versions: Sequence[str],
    observations: Observations,
    metrics: Mapping[str, Metric],
    counters: Collection[str],
    namespace: str,
    iteration: int,
) -> _Fresh:
    """This iteration's observations that arrived, valid, with sample sizes resolved."""
    result: dict[str, dict[str, Known]] = {}
    unpaired: dict[str, set[str]] = {}
    invalid: list[str] = []
    answered = False
    for key in keys:
        metric = metric_for(key, metrics)
        size_key = None
        if metric is not None and metric.spec.sample_size:
            size_key = str(resolve(metric.spec.sample_size, metric.namespace or namespace))
        counter = key in counters
        for version in versions:
            observation = observations.get(key, {}).get(version)
            if observation is None or not observation.known or observation.value is None:
                continue
            histogram = buckets_of(observation.histogram)
            n = _sample_size(observation, observations, version, size_key, key)
            why = validity.problem(observation.value, n, histogram, counter)
            if why:
                invalid.append(f"{key} for {version}: {why}")
                continue
            answered = True
            if n is None and histogram is None and size_key is not None and size_key != key:
                unpaired.setdefault(key, set()).add(version)  # its count's query failed
                continue
            result.setdefault(key, {})[version] = Known(
                float(observation.value), n, histogram, iteration
            )
    asked = any(observations.get(key) for key in keys)
    return _Fresh(result, unpaired, invalid, answered or not asked)


def _sample_size(
    observation: Observation,
    observations: Observations,
    version: str,
    size_key: str | None,
    key: str,
) -> float | None:
    if observation.sample_size is not None:
        return float(observation.sample_size)
    if size_key is not None and size_key != key:
        source = observations.get(size_key, {}).get(version)
        if source is not None and source.known and source.value is not None:
            return float(source.value)
    if observation.histogram is not None and observation.histogram.count > 0:
        return float(observation.histogram.count)
    return None


def _valued(
    item: Known, before: Known | None, exposure: float | None
) -> tuple[Known, tuple[float, float] | None]:
    """A value without a sample size, added to its series: as it is, or (with the version's
    `exposure`, for a value since the start) what this iteration added; and that step, the
    value and its weight (None: nothing was added)."""
    previous = before.series if before is not None else None
    if exposure is None:
        step: tuple[float, float] | None = (item.value, 1.0)
    else:
        last, exposed = (before.value, before.exposure) if before is not None else (None, None)
        step = cumulative.increment(item.value, exposure, last, exposed)
    series = (previous or Series()).add(*step) if step is not None else previous
    return Known(item.value, None, None, item.iteration, series, exposure), step


def _pair(
    pairs: dict[str, Series], added: Mapping[str, tuple[float, float]], versions: Sequence[str]
) -> None:
    """Add this iteration's differences between every two versions that both answered; the
    difference of values of weights w_a and w_b weighs 2 / (1/w_a + 1/w_b): its variance is
    σ²/w_a + σ²/w_b, in units of the difference of two values of weight 1."""
    for i, a in enumerate(versions):
        for b in versions[i + 1 :]:
            if a in added and b in added:
                (x, w_a), (y, w_b) = added[a], added[b]
                name = f"{a}|{b}"
                pairs[name] = pairs.get(name, Series()).add(x - y, 2 * w_a * w_b / (w_a + w_b))


def _versus(
    pairs: Mapping[str, Series], version: str, versions: Sequence[str]
) -> dict[str, Series]:
    """The differences `version` − other, by other version."""
    result = {}
    for other in versions:
        if f"{version}|{other}" in pairs:
            result[other] = pairs[f"{version}|{other}"]
        elif f"{other}|{version}" in pairs:
            result[other] = pairs[f"{other}|{version}"].negated()
    return result


def _requests(
    version: str,
    beliefs: Mapping[str, Mapping[str, Belief]],
    known: Mapping[str, Mapping[str, Known]],
    request_key: str | None,
) -> float | None:
    """The version's requests: the requestCount metric, else the largest sample size seen."""
    if request_key is not None:
        item = known.get(request_key, {}).get(version)
        if item is not None:
            return item.value
    sizes = [b[version].n for b in beliefs.values() if version in b and b[version].n > 0]
    return max(sizes) if sizes else None


def _counter(key: str, metrics: Mapping[str, Metric]) -> bool:
    """A count (negative is impossible; measured, so no per-iteration summary)."""
    return statistic(key, metric_for(key, metrics), False, False, 0.0)[0] == "exact"


def _synthetic(key: str, metrics: Mapping[str, Metric]) -> bool:
    """Built-in metrics measure the load `metrics/collect` sends to every version at once, not
    traffic the split routed, and mocked ones (Iter8 v2's `mock`) follow no traffic at all, so
    their request counts cannot show a sample-ratio mismatch."""
    metric = metric_for(key, metrics)
    return metric is not None and (metric.spec.provider == "iter8" or metric.spec.mock is not None)


def _fresh_requests(
    version: str, fresh: Mapping[str, Mapping[str, Known]], request_key: str | None
) -> float | None:
    if request_key is not None:
        item = fresh.get(request_key, {}).get(version)
        return None if item is None else item.value
    sizes = [p[version].n for p in fresh.values() if version in p and p[version].n]
    return max(s for s in sizes if s is not None) if sizes else None
