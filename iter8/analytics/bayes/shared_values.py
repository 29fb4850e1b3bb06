"""Values no version owns: a metric that answers every version the very same number.

A query written without the version's selector (no label matcher on `$name`) answers each
version with the totals over all of them. With request counts, the sample-ratio check sees it
(`bayes.srm`); a metric without a sample size (a gauge from a REST backend, an APM's summary)
has no counts to check, so the values themselves are looked at: two iterations in which every
version answered one same number, the two numbers different, and never an iteration in which
the versions differed. Independent measurements of two versions never agree to the last bit
twice over while changing; numbers that do not change (a constant, a quiet service's 0) prove
nothing either way and are passed over, as are 0 and 1, where rates saturate.

Such a metric is no version's evidence (`evidence` rule 7): its beliefs are set aside, so a
version judged by it alone has no data, keeps its split, and the experiment ends as `no-data`.
The verdict is kept for the rest of the experiment: the values already seen stay mixed in the
metric's per-iteration summary. Counters and built-in or mocked metrics are left to `srm`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

SHARED, OWN = "shared", "own"
SATURATED = (0.0, 1.0)  # a common value here says nothing: quiet rates, saturated ones

# per metric: OWN (the versions differed once), SHARED, or the first common value seen
State = dict[str, str | float]


def update(
    state: Mapping[str, str | float],
    fresh: Mapping[str, Mapping[str, float]],
    names: Sequence[str],
    keys: Collection[str],
) -> State:
    """Account this iteration's values (metric → version → value, only those that arrived) of
    the metrics the experiment judges by, `keys` (the state keeps no other)."""
    result: State = {k: status for k, status in state.items() if k in keys}
    if len(names) < 2:
        return result
    for key, per in fresh.items():
        status = result.get(key)
        if key not in keys or status in (SHARED, OWN) or any(v not in per for v in names):
            continue
        values = {per[v] for v in names}
        if len(values) > 1:
            result[key] = OWN
            continue
        common = values.pop()
        if common in SATURATED:
            continue
        if status is None:
            result[key] = common
        elif common != status:
            result[key] = SHARED
    return result


def shared(state: Mapping[str, str | float]) -> frozenset[str]:
    """The metrics found to answer every version the same."""
    return frozenset(k for k, status in state.items() if status == SHARED)


def from_wire(data: object) -> State:
    """The state as `details.state` keeps it; anything malformed is dropped (seen afresh)."""
    if not isinstance(data, Mapping):
        return {}
    return {
        str(k): v
        for k, v in data.items()
        if v in (SHARED, OWN)
        or (isinstance(v, float | int) and not isinstance(v, bool) and math.isfinite(v))
    }
