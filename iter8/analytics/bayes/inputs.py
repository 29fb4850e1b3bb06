"""From this iteration's observations to beliefs, version by version.

Missing data is "unknown", never "bad": a metric the backend did not give this time is taken
from the last observation that did arrive (metrics are cumulative since the start, so an older
value is still valid evidence, just less of it); a metric never seen has no belief at all.
A value's sample size is, in order: the observation's own `sample_size`, the value of the
metric its `sampleSize` names, the histogram's count; else there is none (`criteria.requestCount`
is not borrowed: a reward such as user engagement is not per request, and a wrong n would
invent certainty).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from iter8.analytics.bayes.beliefs import Belief, buckets_of, make_belief, statistic
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
    requests: dict[str, float | None]  # per version, for the minimum sample
    fresh_requests: dict[str, float | None]  # per version, this iteration only (the SRM check)
    stale: list[str] = field(default_factory=list)  # "key for version: from iteration k"
    unknown: list[str] = field(default_factory=list)  # "key for version: never observed"


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
    limits: Mapping[str, float],
    settings: Settings,
) -> Gathered:
    """Beliefs for every key and version; `limits` gives each key's magnitude for fallbacks."""
    fresh = _fresh(keys, versions, observations, metrics, request_key, namespace, iteration)
    known: dict[str, dict[str, Known]] = {k: dict(v) for k, v in carried.items() if k in keys}
    stale: list[str] = []
    unknown: list[str] = []
    for key in keys:
        for version in versions:
            if version in fresh.get(key, {}):
                item, before = fresh[key][version], known.get(key, {}).get(version)
                if item.n is None and before is not None and before.n is not None:
                    # the sample size did not arrive: the last one is a lower bound (cumulative)
                    item = Known(item.value, before.n, item.histogram, item.iteration)
                known.setdefault(key, {})[version] = item
            elif version in known.get(key, {}):
                stale.append(f"{key} for {version}: from iteration {known[key][version].iteration}")
            else:
                unknown.append(f"{key} for {version}: never observed")
    beliefs: dict[str, dict[str, Belief]] = {}
    for key in keys:
        metric = metric_for(key, metrics)
        per_version = known.get(key, {})
        magnitude = max([abs(k.value) for k in per_version.values()] + [abs(limits.get(key, 0.0))])
        for version, item in per_version.items():
            if version not in versions:
                continue
            histogram = item.histogram
            kind, quantile = statistic(key, metric, histogram is not None, bool(item.n), item.value)
            beliefs.setdefault(key, {})[version] = make_belief(
                kind,
                item.value,
                item.n,
                histogram,
                quantile,
                magnitude,
                settings.fallback_relative_sd,
                settings.mean_cv_prior,
            )
    requests = {version: _requests(version, beliefs, known, request_key) for version in versions}
    routed = {
        key: per_version for key, per_version in fresh.items() if not _synthetic(key, metrics)
    }
    routed_key = request_key if request_key in routed else None
    fresh_requests = {version: _fresh_requests(version, routed, routed_key) for version in versions}
    return Gathered(beliefs, known, requests, fresh_requests, stale, unknown)


def _fresh(
    keys: Sequence[str],
    versions: Sequence[str],
    observations: Observations,
    metrics: Mapping[str, Metric],
    request_key: str | None,
    namespace: str,
    iteration: int,
) -> dict[str, dict[str, Known]]:
    """This iteration's observations that arrived, with sample sizes resolved."""
    result: dict[str, dict[str, Known]] = {}
    for key in keys:
        metric = metric_for(key, metrics)
        size_key = None
        if metric is not None and metric.spec.sample_size:
            size_key = str(resolve(metric.spec.sample_size, metric.namespace or namespace))
        for version in versions:
            observation = observations.get(key, {}).get(version)
            if observation is None or not observation.known or observation.value is None:
                continue
            n = _sample_size(observation, observations, version, size_key, key)
            result.setdefault(key, {})[version] = Known(
                float(observation.value), n, buckets_of(observation.histogram), iteration
            )
    return result


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


def _synthetic(key: str, metrics: Mapping[str, Metric]) -> bool:
    """Built-in metrics measure the load `metrics/collect` sends to every version at once, not
    traffic the split routed, so their request counts cannot show a sample-ratio mismatch."""
    metric = metric_for(key, metrics)
    return metric is not None and metric.spec.provider == "iter8"


def _fresh_requests(
    version: str, fresh: Mapping[str, Mapping[str, Known]], request_key: str | None
) -> float | None:
    if request_key is not None:
        item = fresh.get(request_key, {}).get(version)
        return None if item is None else item.value
    sizes = [p[version].n for p in fresh.values() if version in p and p[version].n]
    return max(s for s in sizes if s is not None) if sizes else None
