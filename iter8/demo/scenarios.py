"""The demo's scenarios: for each traffic-shaping or deployment pattern, the routing object the
experiment routes, where its weights live, the deployment pattern, and the groups of users who
send requests through the embedded router. Data only; `iter8.demo.run` plays them.

The routing objects are shaped like those of `examples/` and the traffic-shaping tests: a
Knative Service with tags, an Istio VirtualService whose first route is the segment's (or
carries the mirror), a Gateway API HTTPRoute with weighted backendRefs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iter8.demo.experiment import BASELINE, CANDIDATE, NAMESPACE, SERVICE, knative_service
from iter8.store.resources import ISTIO_VIRTUAL_SERVICES, KNATIVE_SERVICES, Resource

Object = dict[str, Any]
HTTP_ROUTES = Resource.from_api_version("gateway.networking.k8s.io/v1", "HTTPRoute")
SEGMENT_HEADER = ("x-user-group", "beta")
SESSION_COOKIE = "demo-session"
MIRROR_PERCENT = 50


@dataclass(frozen=True)
class Group:
    """Users alike: the headers they send, and whether they keep the cookies they are given."""

    name: str
    headers: dict[str, str] = field(default_factory=dict)
    keeps_cookies: bool = True


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    deployment_pattern: str
    resource: Resource
    routed: Object
    field_paths: tuple[str, str]  # the baseline's and the candidate's weightObjRef.fieldPath
    groups: tuple[Group, ...]
    requests_per_user: int = 0  # > 0: a user leaves after that many requests; a new one comes

    def version_info(self) -> Object:
        def ref(field_path: str) -> Object:
            return {
                "apiVersion": self.resource.api_version,
                "kind": self.resource.kind,
                "name": SERVICE,
                "namespace": NAMESPACE,
                "fieldPath": field_path,
            }

        baseline, candidate = self.field_paths
        return {
            "baseline": {"name": BASELINE, "weightObjRef": ref(baseline)},
            "candidates": [{"name": CANDIDATE, "weightObjRef": ref(candidate)}],
        }


def _metadata() -> Object:
    return {"name": SERVICE, "namespace": NAMESPACE}


def _destination(version: str, weight: int | None = None) -> Object:
    entry: Object = {"destination": {"host": version, "port": {"number": 80}}}
    if weight is not None:
        entry["weight"] = weight
    return entry


def segment_virtual_service() -> Object:
    """http[0]: the segment (header `x-user-group: beta`), which the experiment splits;
    http[1]: everyone else, on the baseline."""
    name, value = SEGMENT_HEADER
    segment = {
        "name": "segment",
        "match": [{"headers": {name: {"exact": value}}}],
        "route": [_destination(BASELINE, 100), _destination(CANDIDATE, 0)],
    }
    return _virtual_service([segment, {"name": "everyone-else", "route": [_destination(BASELINE)]}])


def mirrored_virtual_service() -> Object:
    """Dark launch: all requests to the baseline, a copy of MIRROR_PERCENT% to the candidate."""
    split = {
        "name": "split",
        "route": [_destination(BASELINE, 100), _destination(CANDIDATE, 0)],
        "mirror": {"host": CANDIDATE, "port": {"number": 80}},
        "mirrorPercentage": {"value": float(MIRROR_PERCENT)},
    }
    return _virtual_service([split])


def _virtual_service(routes: list[Object]) -> Object:
    return {
        "apiVersion": ISTIO_VIRTUAL_SERVICES.api_version,
        "kind": "VirtualService",
        "metadata": _metadata(),
        "spec": {"hosts": [SERVICE], "http": routes},
    }


def http_route(weights: tuple[int, int], sticky: bool = False) -> Object:
    rule: Object = {
        "backendRefs": [
            {"name": BASELINE, "port": 80, "weight": weights[0]},
            {"name": CANDIDATE, "port": 80, "weight": weights[1]},
        ]
    }
    if sticky:
        rule["sessionPersistence"] = {"sessionName": SESSION_COOKIE, "type": "Cookie"}
    return {
        "apiVersion": HTTP_ROUTES.api_version,
        "kind": "HTTPRoute",
        "metadata": _metadata(),
        "spec": {"parentRefs": [{"name": "gateway"}], "rules": [rule]},
    }


KNATIVE_PATHS = (".spec.traffic[0].percent", ".spec.traffic[1].percent")
ISTIO_PATHS = (".spec.http[0].route[0].weight", ".spec.http[0].route[1].weight")
GATEWAY_PATHS = (".spec.rules[0].backendRefs[0].weight", ".spec.rules[0].backendRefs[1].weight")
USERS = Group("users")

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "canary",
            "a Progressive canary on a Knative Service: the split moves toward the better version",
            "Progressive",
            KNATIVE_SERVICES,
            knative_service(),
            KNATIVE_PATHS,
            (USERS,),
        ),
        Scenario(
            "segment",
            "only users sending 'x-user-group: beta' are split (Istio match route); "
            "everyone else stays on the baseline",
            "Progressive",
            ISTIO_VIRTUAL_SERVICES,
            segment_virtual_service(),
            ISTIO_PATHS,
            (Group("beta users", {SEGMENT_HEADER[0]: SEGMENT_HEADER[1]}), Group("everyone else")),
        ),
        Scenario(
            "mirror",
            f"a dark launch: users stay on the baseline while {MIRROR_PERCENT}% of requests are "
            "copied to the candidate (Istio mirror), then one switch; the mirror is removed",
            "BlueGreen",
            ISTIO_VIRTUAL_SERVICES,
            mirrored_virtual_service(),
            ISTIO_PATHS,
            (USERS,),
        ),
        Scenario(
            "sticky",
            "a Progressive canary on an HTTPRoute with cookie session persistence: users who "
            "keep the cookie stay on their first version; users who drop it follow the split",
            "Progressive",
            HTTP_ROUTES,
            http_route((100, 0), sticky=True),
            GATEWAY_PATHS,
            (Group("keep the cookie"), Group("drop the cookie", keeps_cookies=False)),
            requests_per_user=4,  # new users often enough to see the split move (~18 in a run)
        ),
        Scenario(
            "bluegreen",
            "the candidate at 0%, reached only through its tag (Knative-Serving-Tag: candidate) "
            "until one switch 0 → 100",
            "BlueGreen",
            KNATIVE_SERVICES,
            knative_service(),
            KNATIVE_PATHS,
            (Group("testers", {"knative-serving-tag": "candidate"}), USERS),
        ),
        Scenario(
            "fixedsplit",
            "a 70/30 HTTPRoute split that never moves; the winner gets 100% at the end",
            "FixedSplit",
            HTTP_ROUTES,
            http_route((70, 30)),
            GATEWAY_PATHS,
            (USERS,),
        ),
    )
}
