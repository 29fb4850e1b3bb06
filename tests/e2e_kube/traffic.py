"""The routed objects of the traffic-shaping tests, one per target, each shaped like its
project's samples: two versions `v1` (baseline) and `v2`, a header-matched test route to `v2`
where the target has routes (Istio, Gateway API), tags where it has tags (Knative; KServe's
`latest` tag is the controller's), and the split each object holds, read here, not by the
product."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from iter8.store.base import Store
from iter8.store.resources import Resource
from tests.e2e.builders import knative_service
from tests.routing.objects import GATEWAY, KSERVE, inference_service, isvc_status

Object = dict[str, Any]
ISTIO = ("networking.istio.io/v1beta1", "VirtualService")
KNATIVE = ("serving.knative.dev/v1", "Service")
TEST_HEADER = {"name": "x-iter8-test", "value": "true"}


def destination(version: str) -> Object:
    return {"host": f"app-{version}", "port": {"number": 9080}}


def virtual_service(ns: str, weights: tuple[int, int]) -> Object:
    """http[0]: the test route (header → v2); http[1]: the split between v1 and v2."""
    return {
        "apiVersion": ISTIO[0],
        "kind": ISTIO[1],
        "metadata": {"name": "app", "namespace": ns},
        "spec": {
            "hosts": ["app.example.com"],
            "http": [
                {
                    "name": "test",
                    "match": [{"headers": {TEST_HEADER["name"]: {"exact": "true"}}}],
                    "route": [{"destination": destination("v2")}],
                },
                {
                    "name": "split",
                    "route": [
                        {"destination": destination("v1"), "weight": weights[0]},
                        {"destination": destination("v2"), "weight": weights[1]},
                    ],
                },
            ],
        },
    }


def http_route(ns: str, weights: tuple[int, int]) -> Object:
    """rules[0]: the test rule (header → v2); rules[1]: the split between v1 and v2."""
    return {
        "apiVersion": GATEWAY[0],
        "kind": GATEWAY[1],
        "metadata": {"name": "app", "namespace": ns},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [
                {
                    "matches": [{"headers": [TEST_HEADER]}],
                    "backendRefs": [{"name": "app-v2", "port": 9080}],
                },
                {
                    "backendRefs": [
                        {"name": "app-v1", "port": 9080, "weight": weights[0]},
                        {"name": "app-v2", "port": 9080, "weight": weights[1]},
                    ]
                },
            ],
        },
    }


def ref(kind: tuple[str, str], ns: str, field_path: str) -> Object:
    return {
        "apiVersion": kind[0],
        "kind": kind[1],
        "name": "app" if kind != KSERVE else "sklearn-iris",
        "namespace": ns,
        "fieldPath": field_path,
    }


@dataclass(frozen=True)
class Target:
    name: str
    kind: tuple[str, str]
    make: Callable[[str, tuple[int, int]], Object]
    refs: Callable[[str], tuple[Object | None, Object]]  # baseline's (None: implied), v2's
    split: Callable[[Object], tuple[int, int]]  # the last route's: test routes come first

    @property
    def resource(self) -> Resource:
        return Resource.from_api_version(*self.kind)

    def create(self, store: Store, ns: str, weights: tuple[int, int], mirror: int = 0) -> Object:
        """The object on the server, ready to route (KServe: the Ready status its controller
        would write); `mirror` > 0 adds a mirror of that percentage to v2."""
        obj = self.make(ns, weights)
        created = store.create(self.resource, with_mirror(self, obj, mirror) if mirror else obj)
        if self.kind == KSERVE:
            created = store.replace_status(self.resource, {**created, "status": isvc_status()})
        return created


def _isvc(ns: str, weights: tuple[int, int]) -> Object:
    return inference_service(weights[1], KSERVE, ns)


def _knative(ns: str, weights: tuple[int, int]) -> Object:
    return knative_service("app", list(weights), ns)


def _pair(kind: tuple[str, str], ns: str, template: str) -> tuple[Object | None, Object]:
    return ref(kind, ns, template.format(0)), ref(kind, ns, template.format(1))


def _two(values: list[int]) -> tuple[int, int]:
    first, second = values
    return first, second


TARGETS = {
    "knative": Target(
        "knative",
        KNATIVE,
        _knative,
        lambda ns: _pair(KNATIVE, ns, ".spec.traffic[{}].percent"),
        lambda obj: _two([t["percent"] for t in obj["spec"]["traffic"]]),
    ),
    "istio": Target(
        "istio",
        ISTIO,
        virtual_service,
        lambda ns: _pair(ISTIO, ns, ".spec.http[1].route[{}].weight"),
        lambda obj: _two([r["weight"] for r in obj["spec"]["http"][-1]["route"]]),
    ),
    "gateway-api": Target(
        "gateway-api",
        GATEWAY,
        http_route,
        lambda ns: _pair(GATEWAY, ns, ".spec.rules[1].backendRefs[{}].weight"),
        lambda obj: _two([b["weight"] for b in obj["spec"]["rules"][-1]["backendRefs"]]),
    ),
    "kserve": Target(
        "kserve",
        KSERVE,
        _isvc,
        lambda ns: (None, ref(KSERVE, ns, ".spec.predictor.canaryTrafficPercent")),
        lambda obj: (
            100 - obj["spec"]["predictor"].get("canaryTrafficPercent", 100),
            obj["spec"]["predictor"].get("canaryTrafficPercent", 100),
        ),
    ),
}


def with_mirror(target: Target, obj: Object, percent: int) -> Object:
    """Dark launch: a copy of `percent`% of the split route's requests goes to v2."""
    if target.kind == ISTIO:
        obj["spec"]["http"][1]["mirror"] = destination("v2")
        obj["spec"]["http"][1]["mirrorPercentage"] = {"value": float(percent)}
    elif target.kind == GATEWAY:
        mirror = {"backendRef": {"name": "app-v2", "port": 9080}, "percent": percent}
        obj["spec"]["rules"][1]["filters"] = [{"type": "RequestMirror", "requestMirror": mirror}]
    return obj


def leftovers(target: Target, obj: Object) -> list[str]:
    """What of the experiment's shaping is still in the object: mirrors and test routes."""
    if target.kind == ISTIO:
        routes = obj["spec"]["http"]
        found = [f"http[{i}].match" for i, r in enumerate(routes) if r.get("match")]
        return found + [
            f"{k} in http[{i}]" for i, r in enumerate(routes) for k in r if "mirror" in k
        ]
    if target.kind == GATEWAY:
        rules = obj["spec"]["rules"]
        found = [f"rules[{i}] (test rule)" for i in range(len(rules) - 1)]
        return found + [
            f"rules[{i}].filters[{j}]"
            for i, r in enumerate(rules)
            for j, f in enumerate(r.get("filters") or [])
            if f.get("type") == "RequestMirror"
        ]
    return []


def history(store: Store, target: Target, ns: str, since: str) -> Iterator[Object]:
    """Every state the object went through after resourceVersion `since`, up to now (the API
    server replays a watch from an old resourceVersion until etcd compacts it)."""
    last = store.get(target.resource, ns, "app" if target.kind != KSERVE else "sklearn-iris")
    if last["metadata"]["resourceVersion"] == since:
        return
    for event in store.watch(target.resource, ns, resource_version=since, timeout_seconds=10):
        yield event.object
        if event.resource_version == last["metadata"]["resourceVersion"]:
            return


SEGMENT_HEADER = "x-segment"


def segment_virtual_service(ns: str, weights: tuple[int, int]) -> Object:
    """http[0]: the segment (header x-segment: beta) split between v1 and v2; http[1]: everyone
    else, on v1."""
    return {
        "apiVersion": ISTIO[0],
        "kind": ISTIO[1],
        "metadata": {"name": "app", "namespace": ns},
        "spec": {
            "hosts": ["app.example.com"],
            "http": [
                {
                    "name": "segment",
                    "match": [{"headers": {SEGMENT_HEADER: {"exact": "beta"}}}],
                    "route": [
                        {"destination": destination("v1"), "weight": weights[0]},
                        {"destination": destination("v2"), "weight": weights[1]},
                    ],
                },
                {"name": "everyone-else", "route": [{"destination": destination("v1")}]},
            ],
        },
    }


def segment_http_route(ns: str, weights: tuple[int, int], sticky: bool = True) -> Object:
    """rules[0]: the segment (header x-segment: beta) split between v1 and v2, with cookie
    session persistence (experimental channel) when `sticky`; rules[1]: everyone else, on v1."""
    segment: Object = {
        "matches": [{"headers": [{"name": SEGMENT_HEADER, "value": "beta"}]}],
        "backendRefs": [
            {"name": "app-v1", "port": 9080, "weight": weights[0]},
            {"name": "app-v2", "port": 9080, "weight": weights[1]},
        ],
    }
    if sticky:
        segment["sessionPersistence"] = {"sessionName": "app-session", "type": "Cookie"}
    return {
        "apiVersion": GATEWAY[0],
        "kind": GATEWAY[1],
        "metadata": {"name": "app", "namespace": ns},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [segment, {"backendRefs": [{"name": "app-v1", "port": 9080}]}],
        },
    }


SEGMENTS = {
    "istio": Target(
        "istio",
        ISTIO,
        segment_virtual_service,
        lambda ns: _pair(ISTIO, ns, ".spec.http[0].route[{}].weight"),
        lambda obj: _two([r["weight"] for r in obj["spec"]["http"][0]["route"]]),
    ),
    "gateway-api": Target(
        "gateway-api",
        GATEWAY,
        segment_http_route,
        lambda ns: _pair(GATEWAY, ns, ".spec.rules[0].backendRefs[{}].weight"),
        lambda obj: _two([b["weight"] for b in obj["spec"]["rules"][0]["backendRefs"]]),
    ),
}
