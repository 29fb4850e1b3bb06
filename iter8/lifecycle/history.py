"""`status.analysis.history` (beyond v2): one compact record per iteration — the split in force,
the weights chosen, every metric per version with its interval, the evidence, the action — so
that `iter8 report` can draw the experiment over time from its status alone.

Bounded, because it lives in an object etcd keeps whole (1.5 MiB at most): the last `LIMIT`
iterations and at most `BUDGET` bytes of JSON, the oldest dropped first and counted in
`dropped`; numbers rounded to four significant digits. Pure: the previous history and this
analysis (its wire form, as `assessment.status_analysis` made it) in, the next history out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from iter8.api.experiment import Analysis, VersionWeight
from iter8.api.quantity import parse_quantity

LIMIT = 100  # iterations kept
BUDGET = 200 * 1024  # bytes of JSON kept, whatever the number of versions and metrics
DIGITS = 4


def extended(
    previous: Analysis | None,
    analysis: Mapping[str, Any],
    split: Sequence[VersionWeight] | None,
    iteration: int,
    time: str,
    limit: int = LIMIT,
    budget: int = BUDGET,
) -> dict[str, Any]:
    """The history of `previous` with this iteration's record appended (a record of the same
    or a later iteration, left by a step that was redone, is replaced), then trimmed."""
    old = previous.history if previous is not None and isinstance(previous.history, dict) else {}
    kept = [
        r
        for r in old.get("iterations") or []
        if isinstance(r, dict)
        and isinstance(r.get("iteration"), int)
        and r["iteration"] < iteration
    ]
    dropped = old.get("dropped") if isinstance(old.get("dropped"), int) else 0
    details = analysis.get("details") or {}
    records = [*kept, record(analysis, split, iteration, time)]
    sizes = [_size(r) for r in records]
    while len(records) > 1 and (len(records) > limit or sum(sizes) > budget):
        records.pop(0)
        sizes.pop(0)
        dropped += 1
    history: dict[str, Any] = {"iterations": records, "dropped": dropped}
    if isinstance(details.get("alpha"), int | float):
        history["alpha"] = details["alpha"]
    return history


def record(
    analysis: Mapping[str, Any],
    split: Sequence[VersionWeight] | None,
    iteration: int,
    time: str,
) -> dict[str, Any]:
    """One iteration: `metrics` is key → version → [value, low, high] (the 95% interval where
    the algorithm gave one, else nulls); `eValues` the log e-values of each objective per
    version as [holds, fails]; `comparisons` the log e-value that one version beats another;
    without e-values, `objectivesMet`, v2's verdicts per objective."""
    details = analysis.get("details") or {}
    decision = analysis.get("decision") or {}
    entry: dict[str, Any] = {"iteration": iteration, "time": time}
    entry["action"] = decision.get("action")
    if decision.get("version"):
        entry["version"] = decision["version"]
    if split:
        entry["split"] = {w.name: w.value for w in split}
    weights = _block(analysis, "weights")
    if isinstance(weights, list):
        entry["weights"] = {w["name"]: w["value"] for w in weights if isinstance(w, dict)}
    entry["metrics"] = _metrics(_block(analysis, "aggregatedMetrics"), details.get("posteriors"))
    if isinstance(details.get("pBest"), dict):
        entry["pBest"] = {v: _round(p) for v, p in details["pBest"].items()}
    e_values = _e_values(details.get("objectives"))
    if e_values:
        entry["eValues"] = e_values
    comparisons = _comparisons(details.get("comparisons"))
    if comparisons:
        entry["comparisons"] = comparisons
    assessments = _block(analysis, "versionAssessments")
    if not e_values and isinstance(assessments, dict) and assessments:
        entry["objectivesMet"] = assessments  # what an algorithm without evidence decided on
    return entry


def _block(analysis: Mapping[str, Any], name: str) -> Any:
    block = analysis.get(name)
    return block.get("data") if isinstance(block, Mapping) else None


def _metrics(aggregated: Any, posteriors: Any) -> dict[str, dict[str, list[float | None]]]:
    result: dict[str, dict[str, list[float | None]]] = {}
    aggregated = aggregated if isinstance(aggregated, dict) else {}
    posteriors = posteriors if isinstance(posteriors, dict) else {}
    for key in dict.fromkeys([*aggregated, *posteriors]):
        values = (aggregated.get(key) or {}).get("data") or {}
        beliefs = posteriors.get(key) or {}
        for version in dict.fromkeys([*values, *beliefs]):
            value = _quantity((values.get(version) or {}).get("value"))
            low = high = None
            belief = beliefs.get(version) or {}
            interval = belief.get("ci95")
            if isinstance(interval, list) and len(interval) == 2:
                low, high = (_round(x) for x in interval)
            if value is None and belief.get("evidence") not in (None, "no data"):
                value = _round(belief.get("value"))
            result.setdefault(key, {})[version] = [value, low, high]
    return result


def _e_values(objectives: Any) -> dict[str, dict[str, list[float | str | None]]]:
    result: dict[str, dict[str, list[float | str | None]]] = {}
    for version, checks in (objectives if isinstance(objectives, dict) else {}).items():
        for check in checks if isinstance(checks, list) else []:
            if isinstance(check, dict) and check.get("objective"):
                pair = [_log(check.get("logEHolds")), _log(check.get("logEFails"))]
                result.setdefault(version, {})[str(check["objective"])] = pair
    return result


def _comparisons(comparisons: Any) -> dict[str, float | str | None]:
    result: dict[str, float | str | None] = {}
    for c in comparisons if isinstance(comparisons, list) else []:
        if isinstance(c, dict) and c.get("tested"):
            result[f"{c.get('reward')}: {c.get('better')} > {c.get('than')}"] = _log(c.get("logE"))
    return result


def _quantity(value: Any) -> float | None:
    try:
        return None if value is None else _round(parse_quantity(value))
    except (TypeError, ValueError):
        return None


def _round(x: Any) -> float | None:
    if not isinstance(x, int | float) or isinstance(x, bool) or not math.isfinite(x):
        return None
    return float(f"{x:.{DIGITS}g}")


def _log(x: Any) -> float | str | None:
    """A log e-value: rounded, or `inf`/`-inf` spelled out as `bayes.report` writes them."""
    if x in ("inf", "-inf"):
        return x
    return None if _round(x) is None else round(float(x), 3)


def _size(entry: dict[str, Any]) -> int:
    return len(json.dumps(entry, separators=(",", ":"))) + 1
