"""What an experiment's traffic shaping leaves in a route object, and the operations that remove
it when the experiment ends: the mirror of the experiment's route (dark launch: a copy of
requests to the candidate) and the test routes that reach only candidates (BlueGreen's header
route). Pure: the routers of Istio and Gateway API call these from `finish`.

A test route is a route other than the experiment's with a match whose every destination is a
candidate's destination in the experiment's route: it exists to reach a candidate before it has
traffic. Routes that reach the baseline (a segment pinned to it, say) are the user's and stay.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from iter8.routing.fieldpath import parse
from iter8.routing.router import Object, Operation, WeightTarget

ISTIO_MIRROR_FIELDS = ("mirror", "mirrorPercentage", "mirrorPercent", "mirrors")


def route_of(targets: Sequence[WeightTarget]) -> int | None:
    """The index of the route (`http[i]`, `rules[i]`) the weights are in; None if they are in
    several (validation refuses that) or none."""
    indices = {parse(t.field_path)[2] for t in targets}
    return next(iter(indices)) if len(indices) == 1 else None


def _ends(route: Object, list_key: str, destination_key: str | None) -> list[Any]:
    """Where a route sends requests: its destinations (Istio) or backends (Gateway API)."""
    entries = [e for e in route.get(list_key) or [] if isinstance(e, dict)]
    return [e.get(destination_key) if destination_key else _backend(e) for e in entries]


def _backend(entry: Object) -> Object:
    """A Gateway API backendRef without its weight: what it points at."""
    return {k: v for k, v in entry.items() if k not in ("weight", "filters")}


def test_routes(
    routes: list[Any],
    index: int,
    targets: Sequence[WeightTarget],
    candidates: Collection[str],
    *,
    match_key: str,
    list_key: str,
    destination_key: str | None,
) -> list[int]:
    """Indices of the test routes, highest first (so removing them in order keeps the rest)."""
    own = routes[index] if 0 <= index < len(routes) and isinstance(routes[index], dict) else {}
    entries = own.get(list_key) or []
    reach = []
    for target in targets:
        keys = parse(target.field_path)
        if target.version in candidates and isinstance(keys[4], int) and keys[4] < len(entries):
            entry = entries[keys[4]]
            reach.append(entry.get(destination_key) if destination_key else _backend(entry))
    found = []
    for j, route in enumerate(routes):
        if j == index or not isinstance(route, dict) or not route.get(match_key):
            continue
        ends = _ends(route, list_key, destination_key)
        if ends and all(end in reach for end in ends):
            found.append(j)
    return sorted(found, reverse=True)


def istio_finish(
    obj: Object, section: str, targets: Sequence[WeightTarget], candidates: Collection[str]
) -> list[Operation]:
    routes = ((obj.get("spec") or {}).get(section)) or []
    index = route_of(targets)
    if index is None or not isinstance(routes, list) or index >= len(routes):
        return []
    ops: list[Operation] = [
        {"op": "remove", "path": f"/spec/{section}/{index}/{field}"}
        for field in ISTIO_MIRROR_FIELDS
        if isinstance(routes[index], dict) and field in routes[index]
    ]
    for j in test_routes(
        routes, index, targets, candidates,
        match_key="match", list_key="route", destination_key="destination",
    ):  # fmt: skip
        ops.append({"op": "remove", "path": f"/spec/{section}/{j}"})
    return ops


def gateway_finish(
    obj: Object, targets: Sequence[WeightTarget], candidates: Collection[str]
) -> list[Operation]:
    rules = ((obj.get("spec") or {}).get("rules")) or []
    index = route_of(targets)
    if index is None or not isinstance(rules, list) or index >= len(rules):
        return []
    ops: list[Operation] = []
    filters = rules[index].get("filters") if isinstance(rules[index], dict) else None
    if isinstance(filters, list):
        mirrors = [i for i, f in enumerate(filters) if (f or {}).get("type") == "RequestMirror"]
        if mirrors and len(mirrors) == len(filters):
            ops.append({"op": "remove", "path": f"/spec/rules/{index}/filters"})
        else:
            ops += [
                {"op": "remove", "path": f"/spec/rules/{index}/filters/{i}"}
                for i in reversed(mirrors)
            ]
    for j in test_routes(
        rules, index, targets, candidates,
        match_key="matches", list_key="backendRefs", destination_key=None,
    ):  # fmt: skip
        ops.append({"op": "remove", "path": f"/spec/rules/{j}"})
    return ops
