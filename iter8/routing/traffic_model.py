"""A model of how a mesh or gateway routes requests by the objects the route function writes:
what each user would see, so that segment isolation and stickiness can be measured.

This models the APIs' documented semantics, not Envoy: Istio VirtualService — the first `http`
route whose `match` holds (headers exact/prefix/regex; cookies through the `cookie` header),
then a weighted choice among its destinations; a DestinationRule `consistentHash` picks a pod
inside the chosen destination, after the weighted choice, so it never keeps a user on a version.
Gateway API HTTPRoute — of the rules whose `matches` hold, the one with the most header matches,
then the first (every path here is the prefix `/`); a weighted choice among `backendRefs`; a
rule's `sessionPersistence` keeps a session on the backend first chosen while the rule still
references it (GEP-1619: persistence over weights). Knative — a `Knative-Serving-Tag` header
naming a tag reaches that traffic target (tag-header routing), else the percentages decide.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Object = dict[str, Any]
KNATIVE_TAG_HEADER = "knative-serving-tag"


@dataclass
class User:
    """A client: its headers (lower-case names) and cookies; `sessions` holds what a gateway's
    session persistence pinned it to, by rule."""

    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    sessions: dict[int, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        if name.lower() == "cookie" and self.cookies:
            return "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return self.headers.get(name.lower())


def _string_match(rule: Mapping[str, str], value: str | None) -> bool:
    if value is None:
        return False
    if "exact" in rule:
        return value == rule["exact"]
    if "prefix" in rule:
        return value.startswith(rule["prefix"])
    if "regex" in rule:
        return re.fullmatch(rule["regex"], value) is not None
    return True


def _weighted(
    entries: Sequence[Object], rng: random.Random, default: int, key: str = "weight"
) -> Object | None:
    weights = [int(e.get(key, default)) for e in entries]
    if sum(weights) <= 0:
        return None
    total = list(itertools.accumulate(weights))
    return entries[bisect.bisect_right(total, rng.random() * total[-1])]


def istio_route(spec: Object, user: User) -> Object | None:
    """The first `http` route whose match holds for `user` (None: no route, a 404)."""
    for route in spec.get("http") or []:
        matches = route.get("match") or [{}]
        if any(
            all(
                _string_match(rule, user.header(name))
                for name, rule in (m.get("headers") or {}).items()
            )
            for m in matches
        ):
            return route
    return None


def istio_pick(route: Object, rng: random.Random) -> Object | None:
    """The weighted choice among a route's destinations (a lone one needs no weight)."""
    entries = route.get("route") or []
    chosen = _weighted(entries, rng, 100 if len(entries) == 1 else 0)
    return None if chosen is None else chosen["destination"]


def istio_destination(spec: Object, user: User, rng: random.Random) -> Object | None:
    """The destination a request of `user` is sent to (None: no route, a 404)."""
    route = istio_route(spec, user)
    return None if route is None else istio_pick(route, rng)


def _gateway_match(match: Object, user: User) -> bool:
    for header in match.get("headers") or []:
        value = user.header(header["name"])
        if header.get("type", "Exact") == "RegularExpression":
            if value is None or re.fullmatch(header["value"], value) is None:
                return False
        elif value != header["value"]:
            return False
    return True


def gateway_rule(spec: Object, user: User) -> int | None:
    """The index of the rule a request of `user` takes: of the rules whose `matches` hold, the
    one with the most header matches, then the first (None: no rule, a 404)."""
    best: tuple[int, int] | None = None  # (-header matches, rule index)
    for index, rule in enumerate(spec.get("rules") or []):
        for match in rule.get("matches") or [{}]:
            if _gateway_match(match, user):
                rank = (-len(match.get("headers") or []), index)
                best = rank if best is None or rank < best else best
    return None if best is None else best[1]


def gateway_backend(spec: Object, user: User, rng: random.Random) -> str | None:
    """The backend name a request of `user` is sent to, honouring session persistence."""
    index = gateway_rule(spec, user)
    if index is None:
        return None
    rule = spec["rules"][index]
    backends = rule.get("backendRefs") or []
    pinned = user.sessions.get(index)
    if rule.get("sessionPersistence") and pinned in {b["name"] for b in backends}:
        return pinned
    chosen = _weighted(backends, rng, 1)
    if chosen is None:
        return None
    if rule.get("sessionPersistence"):
        user.sessions[index] = chosen["name"]
    return chosen["name"]


def knative_entry(spec: Object, user: User, rng: random.Random) -> Object | None:
    """The `spec.traffic` entry a request of `user` reaches: the one whose tag its
    `Knative-Serving-Tag` header names, else a choice by the percentages."""
    traffic = spec.get("traffic") or []
    tag = user.header(KNATIVE_TAG_HEADER)
    for entry in traffic:
        if tag is not None and entry.get("tag") == tag:
            return entry
    return _weighted(traffic, rng, 0, key="percent") if traffic else None


def knative_target(spec: Object, user: User, rng: random.Random) -> str | None:
    """The traffic target's tag (or revision) a request of `user` reaches."""
    chosen = knative_entry(spec, user, rng)
    if chosen is None:
        return None
    return chosen.get("tag") or chosen.get("revisionName")


def served(
    kind: str, states: Sequence[Object], users: Sequence[User], requests: int, seed: int
) -> list[list[str | None]]:
    """What each user saw: for each user, the versions of its requests, `requests` per state, in
    order (`kind`: istio, gateway-api, knative). Labels are what `label` makes of a
    destination: the host's last `-` part (`app-v2` → `v2`), a backend's, a tag."""
    rng = random.Random(seed)
    route: Callable[[Object, User, random.Random], Any] = {
        "istio": istio_destination,
        "gateway-api": gateway_backend,
        "knative": knative_target,
    }[kind]
    seen: list[list[str | None]] = [[] for _ in users]
    for state in states:
        for _ in range(requests):
            for index, user in enumerate(users):
                seen[index].append(label(route(state.get("spec") or {}, user, rng)))
    return seen


def label(destination: Any) -> str | None:
    if destination is None:
        return None
    name = destination["host"] if isinstance(destination, dict) else str(destination)
    return name.rsplit("-", 1)[-1]


def switched_share(seen: Sequence[Sequence[str | None]]) -> float:
    """The share of users who saw more than one version."""
    if not seen:
        return 0.0
    return sum(len({v for v in versions if v is not None}) > 1 for versions in seen) / len(seen)
