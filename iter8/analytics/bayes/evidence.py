"""The evidence rules, in one place: what counts as evidence, and what may happen without it.

1. A version gains traffic, is promoted or is rolled back only on evidence; unknown is neither
   good nor bad.
2. A version with no evidence at all (nothing measured on any metric its criteria judge it by)
   keeps its split: neither ramped nor cut (`hold`). One with evidence on some metrics but not
   all may lose traffic on what is known, never gain (the unknown metric may be the bad one). A
   baseline without complete evidence never loses traffic where it is the reference the
   candidates are judged against (A/B, A/B/N, Pareto, objectives relative to it); in a Canary
   judged by absolute limits alone, a baseline with evidence on some metrics gives up what a
   candidate's own complete evidence earns it (the baseline's gap says nothing about the
   candidate). The one exception lets a candidate be
   measured at all: below the exploration floor it may get the floor, when the metrics backend is
   seen answering this iteration (some version got a fresh measurement). When nothing answers
   (every query failing, a refused connection, no load generator) nothing moves.
3. After `no_data_iterations` iterations in a row with a version that has no evidence at all,
   or at the last iteration with one, the experiment ends with the stated outcome `no-data`:
   back to the baseline (`rollback` in Iter8 v2's status; with `no_data_rollback` false it ends
   as `no-winner`, which keeps the baseline too).
4. An unknown sample size counts as 0 for every minimum-sample rule (`enough`). Where nothing
   counts requests at all (no `requestCount`, and a version's metrics are values without a
   sample size), the minimum is in values instead (`uncounted`; an objective on such values is
   proven to hold only after `Settings.min_values` of them): else such an experiment could
   never end before its horizon, while its candidate rode the cap.
5. An e-value is proof only with a sample behind it: never with n = 0 (`proof`).
6. A rate and its sample size come from the same iteration (`bayes.inputs`); a value without
   one is judged by its variation across iterations, never from a single value
   (`bayes.iterations`).
7. Evidence counts for a version only if it is that version's. When the requests measured per
   version do not follow the split in force (a sample-ratio mismatch, `bayes.srm`), the
   measurements cannot be told apart by version: a router that does not apply the split, or
   queries that do not select the version. Then no version gains traffic, as with partial
   evidence (`attributed`): what is measured may take traffic from a candidate, never give it
   one, and the baseline keeps its share; promotion waits too (`bayes.decide`). When every
   version was measured the very same requests, the queries answer each one the totals: no
   version has evidence of its own, which is no data (rules 2 and 3). Without request counts,
   a metric whose values every version shares is set aside the same way
   (`bayes.shared_values`; a version judged by such metrics alone is `pooled`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Literal

from iter8.analytics.algorithm import Decision
from iter8.analytics.bayes.beliefs import Belief
from iter8.analytics.bayes.settings import Settings
from iter8.analytics.bayes.srm import SrmResult

Coverage = Literal["complete", "partial", "none", "pooled", "unattributed"]
RULE = "a version gains traffic, is promoted or is rolled back only on evidence"
# a version measured, yet without evidence of its own (rule 7)
SAME_TOTALS = "measured the very same as every other version (do its queries select it?)"
SHARED = "no data (the same values for every version)"  # the basis of a shared metric


def enough(n: float | None, minimum: float) -> bool:
    """The minimum-sample rule: an unknown n is 0."""
    return (n or 0.0) >= minimum


def uncounted(
    names: Sequence[str],
    beliefs: Mapping[str, Mapping[str, Belief]],
    counts_requests: bool,
) -> frozenset[str]:
    """Rule 4's exception: the versions whose every belief is a value without a sample size,
    in an experiment that counts no requests (`counts_requests`: it names a `requestCount`)."""
    if counts_requests:
        return frozenset()
    mine = {v: [per[v] for per in beliefs.values() if v in per] for v in names}
    return frozenset(v for v, held in mine.items() if held and all(b.kind == "value" for b in held))


def judged_in_iterations(
    keys: Collection[str], names: Sequence[str], beliefs: Mapping[str, Mapping[str, Belief]]
) -> bool:
    """Whether every version's every metric in `keys` is a value read as is (not since the
    start): tested by its variation across iterations, so its proof takes the same iterations
    at any share of the traffic."""
    return bool(keys) and all(
        (b := beliefs.get(key, {}).get(v)) is not None and b.kind == "value" and not b.since_start
        for key in keys
        for v in names
    )


def proof(log_e: float, n: float, alpha: float) -> bool:
    """An e-value proves at level α only with a sample behind it."""
    return n > 0 and log_e >= math.log(1 / alpha)


def coverage(
    needs: Mapping[str, Sequence[str]],
    beliefs: Mapping[str, Mapping[str, Belief]],
    shared: Collection[str] = (),
) -> dict[str, Coverage]:
    """Per version: evidence on every metric it is judged by, on some, or on none; none, with
    a metric whose values every version shares (`bayes.shared_values`), is `pooled`."""
    lacking = missing(needs, beliefs)

    def of(version: str, keys: Sequence[str]) -> Coverage:
        if version not in lacking:
            return "complete"
        if len(lacking[version]) < len(keys):
            return "partial"
        return "pooled" if any(k in shared for k in keys) else "none"

    return {version: of(version, keys) for version, keys in needs.items()}


def attributed(covered: Mapping[str, Coverage], srm: SrmResult) -> dict[str, Coverage]:
    """Rule 7: under a sample-ratio mismatch no evidence is complete (no data stays no data);
    measured as the totals (`pooled`), none is any version's."""
    if not srm.mismatch:
        return dict(covered)
    other = "pooled" if srm.pooled else "unattributed"
    return {v: "none" if c == "none" else other for v, c in covered.items()}


def blank(state: Coverage) -> bool:
    """No evidence of the version's own: nothing measured, or only the totals (rules 2, 3, 7)."""
    return state in ("none", "pooled")


def missing(
    needs: Mapping[str, Sequence[str]], beliefs: Mapping[str, Mapping[str, Belief]]
) -> dict[str, list[str]]:
    """Per version, the metrics it has no evidence on (only versions missing some)."""
    result = {
        version: [k for k in keys if not ((b := beliefs.get(k, {}).get(version)) and b.evidence)]
        for version, keys in needs.items()
    }
    return {v: keys for v, keys in result.items() if keys}


def hold(
    names: Sequence[str],
    weights: Sequence[int],
    current: Mapping[str, int],
    caps: Sequence[int],
    covered: Mapping[str, Coverage],
    measurable: bool,
    floor: float,
    reference: bool = True,
) -> tuple[list[int], dict[str, str]]:
    """The computed split with rule 2 applied: integers summing to 100, and why each version
    that was held back is. The caller's split (floors, caps, rounding) is taken as it is.
    `reference`: whether the candidates are judged against the baseline (not in a Canary with
    absolute limits alone, where a baseline's partial evidence holds nothing back)."""
    if not reference and covered.get(names[0]) == "partial":
        covered = {**covered, names[0]: "complete"}
    for allow in (True, False) if measurable else (False,):
        low, high, why = _bounds(names, current, caps, covered, allow, floor)
        if not why:
            return list(weights), {}
        if sum(low) <= 100 <= sum(high):
            return _within(weights, low, high), why
    # no split meets every bound (the split in force is not a split, or the baseline may not
    # lose while a candidate must get its floor): no candidate without evidence gains, the
    # rest goes to the baseline
    kept = [
        w if covered.get(v, "complete") == "complete" else min(w, current.get(v, 0))
        for v, w in zip(names, weights, strict=True)
    ]
    return [100 - sum(kept[1:]), *kept[1:]], why


def _bounds(
    names: Sequence[str],
    current: Mapping[str, int],
    caps: Sequence[int],
    covered: Mapping[str, Coverage],
    allow: bool,
    floor: float,
) -> tuple[list[int], list[int], dict[str, str]]:
    """Per version the least and the most it may get, and why (rule 2). A baseline that may
    not lose still gives up what the candidates' exploration floors take (measuring comes first)."""
    low, high, why = [0] * len(names), list(caps), {}
    given = 0  # what the floors of never-measured candidates take
    for i, v in enumerate(names):
        now, state = current.get(v, 0), covered.get(v, "complete")
        if state == "complete":
            continue
        allowance = allow and i > 0 and now < floor
        top = min(max(now, math.ceil(floor)), caps[i]) if allowance else now
        if i == 0:
            low[i], why[v] = now, f"{_HELD[state]}: the baseline keeps its share"
        given += top - now
        if blank(state):
            low[i] = high[i] = top
            why[v] = _blank_held(state, top, now)
        elif i > 0:
            high[i] = top
            why[v] = f"{_HELD[state]}: may not gain traffic"
    low[0] = max(0, low[0] - given)
    return low, high, why


def _blank_held(state: Coverage, top: int, now: int) -> str:
    if state == "pooled":
        return f"{SAME_TOTALS}: split held"
    if top > now:
        return f"no data yet: given the exploration floor ({top}%) to be measured"
    return "no data: split held"


_HELD = {
    "none": "no evidence on every metric",
    "pooled": SAME_TOTALS,
    "partial": "no evidence on some metrics",
    "unattributed": "the requests measured do not follow the split (sample-ratio mismatch)",
}


def _within(weights: Sequence[int], low: Sequence[int], high: Sequence[int]) -> list[int]:
    """The weights clipped to their bounds, summing to 100 again: what clipping freed goes to
    the baseline first (the safe place), what it added comes from the candidates first."""
    result = [min(max(w, lo), hi) for w, lo, hi in zip(weights, low, high, strict=True)]
    for i in range(len(result)):
        left = 100 - sum(result)
        if left > 0:
            result[i] += min(left, high[i] - result[i])
    for i in [*range(len(result) - 1, 0, -1), 0]:
        excess = sum(result) - 100
        if excess > 0:
            result[i] -= min(excess, result[i] - low[i])
    return result


def no_data(
    decision: Decision,
    names: Sequence[str],
    covered: Mapping[str, Coverage],
    gaps: Mapping[str, Sequence[str]],
    without_data: int,
    last: bool,
    settings: Settings,
) -> Decision | None:
    """Rule 3: the `no-data` outcome, or None when it does not apply."""
    if decision.action not in ("continue", "no-winner"):
        return None
    without = [v for v in names if blank(covered.get(v, "complete"))]
    if not without or not (without_data >= settings.no_data_iterations or last):
        return None
    baseline = names[0]
    detail = "; ".join(
        f"{v}: {SAME_TOTALS if covered[v] == 'pooled' else ', '.join(gaps.get(v, []))}"
        for v in without
    )
    reason = (
        f"no-data: {len(without)} version(s) without any evidence for {without_data} iteration(s) "
        f"in a row ({detail}), so nothing can be decided ({RULE}); back to baseline {baseline}"
    )
    action = "rollback" if settings.no_data_rollback else "no-winner"
    return Decision(action=action, version=baseline, reason=reason)


def summary(
    names: Sequence[str],
    needs: Mapping[str, Sequence[str]],
    beliefs: Mapping[str, Mapping[str, Belief]],
    shared: Collection[str] = (),
) -> dict[str, dict[str, str]]:
    """version → metric → the kind of evidence behind it ("no data" when none)."""

    def basis(key: str, version: str) -> str:
        if key in shared:
            return SHARED
        belief = beliefs.get(key, {}).get(version)
        return belief.basis if belief and belief.evidence else "no data"

    return {v: {k: basis(k, v) for k in needs.get(v, [])} for v in names}


def stated(decision: Decision, evidence: Mapping[str, Mapping[str, str]]) -> str:
    """The decision's reason with the evidence it rests on (rule 1, in every explanation)."""
    if RULE in decision.reason:
        return decision.reason  # the no-data outcome states it already
    versions = [decision.version] if decision.action == "promote" and decision.version else []
    versions += [
        v for v, per in evidence.items() if any(b.startswith("no data") for b in per.values())
    ]
    parts = [
        f"{v}: " + ", ".join(f"{k.rpartition('/')[2]} {basis}" for k, basis in evidence[v].items())
        for v in dict.fromkeys(versions)
        if evidence.get(v)
    ]
    suffix = f" [evidence — {'; '.join(parts)}]" if parts else ""
    return f"{decision.reason}{suffix} ({RULE})"
