"""The embedded router's decisions, pure: which upstream a request goes to, whether a copy of it
is mirrored, and which session cookie to set, from the routing object the route function writes.

Which route or rule a request takes, and the weighted choice inside it, are those of
`iter8.routing.traffic_model` (the APIs' documented semantics); this module adds what a router
needs on top: the upstream URL of each destination, the mirror of the route taken, and a cookie
for Gateway API session persistence. Istio's DestinationRule `consistentHash` is not read: it
picks an endpoint inside the destination the weights chose (each version here has one), so it
keeps no user on a version, in Istio as here.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iter8.routing import traffic_model
from iter8.routing.traffic_model import User

Object = dict[str, Any]
KINDS = {
    ("serving.knative.dev", "Service"): "knative",
    ("networking.istio.io", "VirtualService"): "istio",
    ("gateway.networking.k8s.io", "HTTPRoute"): "gateway-api",
}
DEFAULT_SESSION_COOKIE = "iter8-session"


class UnroutableObject(ValueError):
    """The object is not a kind the embedded router reads."""


@dataclass(frozen=True)
class RouteTable:
    """One routing object's spec, and where each of its destinations listens.

    `upstreams` maps a destination's name (a Knative revisionName, an Istio host or the host's
    first DNS label, a Gateway API backendRef name) to its base URL."""

    kind: str  # knative, istio or gateway-api
    spec: Object
    upstreams: Mapping[str, str]
    resource_version: str = ""


@dataclass(frozen=True)
class Facts:
    """What of a request decides its route: its headers (lower-case names) and cookies."""

    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """Where a request goes. `backend` None: no route or an upstream nobody listens for (503);
    `mirror`: a name to send a copy to (its answer discarded); `cookie`: (name, value) to set."""

    backend: str | None
    upstream: str | None
    mirror: str | None = None
    mirror_upstream: str | None = None
    cookie: tuple[str, str] | None = None


class _Draw(random.Random):
    """A random source that answers one given number: the weighted choice in traffic_model
    draws once per request, so a decision is a function of the draw it is given."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def route_table(obj: Object, upstreams: Mapping[str, str]) -> RouteTable:
    group, _, _ = str(obj.get("apiVersion", "")).rpartition("/")
    kind = KINDS.get((group, str(obj.get("kind", ""))))
    if kind is None:
        names = ", ".join(f"{g} {k}" for g, k in KINDS)
        raise UnroutableObject(
            f"the embedded router reads {names}; not {obj.get('apiVersion')} {obj.get('kind')}"
        )
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    version = str((obj.get("metadata") or {}).get("resourceVersion", ""))
    return RouteTable(kind, spec, dict(upstreams), version)


def choose(table: RouteTable, facts: Facts, draws: tuple[float, float]) -> Decision:
    """The decision for one request; `draws` are two numbers in [0, 1): the weighted choice's
    and the mirror's."""
    route_draw, mirror_draw = draws
    user = User(headers=facts.headers, cookies=facts.cookies)
    cookie = None
    mirror: str | None = None
    try:
        if table.kind == "knative":
            entry = traffic_model.knative_entry(table.spec, user, _Draw(route_draw))
            backend = None if entry is None else entry.get("revisionName")
        elif table.kind == "istio":
            backend, mirror = _istio(table.spec, user, route_draw, mirror_draw)
        else:
            backend, mirror, cookie = _gateway(table.spec, user, route_draw, mirror_draw)
    except (KeyError, TypeError, ValueError, AttributeError):
        backend = mirror = None  # a malformed object routes nowhere: a 503, never a crash
    upstream = _upstream(table, backend)
    return Decision(
        backend if upstream else None,
        upstream,
        mirror if _upstream(table, mirror) else None,
        _upstream(table, mirror),
        cookie if upstream else None,
    )


def _upstream(table: RouteTable, name: str | None) -> str | None:
    if not name:
        return None
    return table.upstreams.get(name) or table.upstreams.get(name.split(".", 1)[0])


def _istio(
    spec: Object, user: User, route_draw: float, mirror_draw: float
) -> tuple[str | None, str | None]:
    route = traffic_model.istio_route(spec, user)
    if route is None:
        return None, None
    destination = traffic_model.istio_pick(route, _Draw(route_draw))
    backend = None if destination is None else destination.get("host")
    mirrors = [(route["mirror"], _istio_percent(route))] if route.get("mirror") else []
    mirrors += [(m.get("destination"), _istio_percent(m)) for m in route.get("mirrors") or []]
    return backend, _mirrored([(d.get("host") if d else None, p) for d, p in mirrors], mirror_draw)


def _istio_percent(entry: Object) -> float:
    """Istio: `mirrorPercentage.value` (or `percentage`, in `mirrors`), else the retired
    `mirrorPercent`; 100 when none is given."""
    for key in ("mirrorPercentage", "percentage"):
        if isinstance(entry.get(key), dict):
            return float(entry[key].get("value", 0))
    return float(entry.get("mirrorPercent", 100))


def _gateway(
    spec: Object, user: User, route_draw: float, mirror_draw: float
) -> tuple[str | None, str | None, tuple[str, str] | None]:
    index = traffic_model.gateway_rule(spec, user)
    if index is None:
        return None, None, None
    rule = spec["rules"][index]
    persistence = rule.get("sessionPersistence")
    name = DEFAULT_SESSION_COOKIE
    if isinstance(persistence, dict):
        name = persistence.get("sessionName") or name
        if persistence.get("type", "Cookie") == "Cookie" and name in user.cookies:
            user.sessions[index] = user.cookies[name]
    backend = traffic_model.gateway_backend(spec, user, _Draw(route_draw))
    cookie = (name, backend) if persistence and backend else None
    mirrors = [
        (f["requestMirror"]["backendRef"]["name"], _gateway_percent(f["requestMirror"]))
        for f in rule.get("filters") or []
        if f.get("type") == "RequestMirror"
    ]
    return backend, _mirrored(mirrors, mirror_draw), cookie


def _gateway_percent(mirror: Object) -> float:
    """Gateway API: `percent`, or `fraction` (numerator / denominator, default 100); 100 when
    neither is given."""
    if "percent" in mirror:
        return float(mirror["percent"])
    fraction = mirror.get("fraction")
    if isinstance(fraction, dict):
        return 100 * float(fraction.get("numerator", 0)) / float(fraction.get("denominator", 100))
    return 100.0


def _mirrored(mirrors: list[tuple[str | None, float]], draw: float) -> str | None:
    """The first mirror whose percentage the draw falls under (one copy per request)."""
    for name, percent in mirrors:
        if name and draw * 100 < percent:
            return name
    return None
