"""Values since the start of the experiment, read as what each iteration added.

Iter8's metric queries run over `[${elapsedTime}s]`: the value read at iteration t summarises
every request since the start, so the values are not independent draws; each contains the ones
before it. The first few rest on a handful of requests (a canary's first 2% of one iteration)
and, taken as equals of the later ones, their noise stays in the spread for the whole
experiment. What each iteration added is independent, though, and it can be recovered without a
request count. With s_i the version's share of the traffic in interval i and its exposure
E_t = s_1 + … + s_t, a steady total traffic T per iteration gives the version N_t = T·E_t
requests, so the new requests' mean is

    m_t = (E_t·x_t − E_(t−1)·x_(t−1)) / (E_t − E_(t−1)),   of variance σ² / (T·(E_t − E_(t−1))),

a value of weight E_t − E_(t−1) for the weighted series (`bayes.iterations`). Where the total
traffic is not steady, m_t stays unbiased while the version's level is steady (every x has the
same expectation); only the weights are off. An interval is counted by the time it lasted, in
intervals of the experiment (`span`), when the analysis knows the seconds since the start: the
first analysis follows init at once, so its value rests on a few seconds of traffic, and a
late tick's interval is longer than the others; counted as one whole interval each, the first
value took the weight of a whole interval's requests, and m_2 = 2·x_2 − x_1 carried its noise.

Values that are not cumulative (Iter8 v2's mock gauges, a windowed `rate(…[1m])`) must not be
read so: an increment of independent values is mostly noise. So a metric is read as cumulative
only when its Metric says so: the annotation `iter8.tools/cumulative: "true"` (or `"false"` to
opt out), else `elapsedTime` in its query (params, body, URL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from iter8.api.metric import Metric

ANNOTATION = "iter8.tools/cumulative"
MARKER = "elapsedTime"
TINY = 1e-9  # less exposure than this is none: the value cannot have changed


def is_cumulative(metric: Metric | None) -> bool:
    """Whether the metric's value sums up everything since the start (module docstring)."""
    if metric is None:
        return False
    declared = (metric.metadata.annotations or {}).get(ANNOTATION, "").strip().lower()
    if declared in ("true", "false"):
        return declared == "true"
    spec = metric.spec
    texts = [p.value for p in spec.params or ()] + [spec.body or "", spec.url_template or ""]
    return any(MARKER in text for text in texts)


MOST_INTERVALS = 1e6  # one step's span at most, in intervals (an absurd clock is not data)


def span(
    elapsed: float | None, elapsed_before: float | None, interval: float | None, first: bool
) -> float:
    """How long the interval since the last analysis lasted, in intervals of the experiment:
    the seconds since the start over `interval` at the first analysis (`first`), the seconds
    since the last one after it. One whole interval when a time is unknown (and after an
    analysis that recorded none: the exposures carried were counted so)."""
    if elapsed is None or not interval or interval <= 0:
        return 1.0
    if first:
        seconds = elapsed
    elif elapsed_before is None:
        return 1.0
    else:
        seconds = elapsed - elapsed_before
    return min(max(seconds, 0.0) / interval, MOST_INTERVALS)


def exposures(
    carried: Mapping[str, float],
    split: Mapping[str, float] | None,
    versions: Sequence[str],
    lasted: float = 1.0,
) -> dict[str, float]:
    """Each version's exposure after this interval: its shares of the traffic so far, each
    times the interval it held for, in intervals (`lasted`: this one's, `span`); an unknown
    split counts as an equal one."""
    equal = 1.0 / len(versions) if versions else 0.0
    return {
        v: carried.get(v, 0.0) + lasted * (split.get(v, 0.0) if split is not None else equal)
        for v in versions
    }


def increment(
    value: float, exposure: float, before: float | None, exposed_before: float | None
) -> tuple[float, float] | None:
    """The mean of what this iteration added and its weight; None when the version was given
    no traffic since the last value (nothing was added)."""
    if before is None or exposed_before is None:
        return (value, exposure) if exposure > TINY else None
    added = exposure - exposed_before
    if added <= TINY:
        return None
    return (exposure * value - exposed_before * before) / added, added
