"""The end of an experiment removes its mirror (dark launch) and its test routes to candidates,
in the patch that sets the final weights; routes reaching the baseline are the user's and stay."""

from __future__ import annotations

import copy

from iter8.routing import WeightTarget, apply_weights, router_for
from iter8.store.resources import Resource
from iter8.store.sqlite import SqliteStore
from tests.e2e_kube.traffic import destination, http_route, virtual_service
from tests.routing.objects import GATEWAY, ISTIO, experiment, ref

VS_TARGETS = [
    WeightTarget(v, f".spec.http[1].route[{i}].weight") for i, v in enumerate(("v1", "v2"))
]
HR_TARGETS = [
    WeightTarget(v, f".spec.rules[1].backendRefs[{i}].weight") for i, v in enumerate(("v1", "v2"))
]


def dark_launch_vs() -> dict:
    """Users on v1; a copy of 20% of requests mirrored to v2; testers reach v2 by header."""
    vs = virtual_service("default", (100, 0))
    vs["spec"]["http"][1]["mirror"] = destination("v2")
    vs["spec"]["http"][1]["mirrorPercentage"] = {"value": 20.0}
    return vs


def test_istio_finish_removes_the_mirror_and_the_test_route() -> None:
    ops = router_for(*ISTIO).finish(dark_launch_vs(), VS_TARGETS, {"v2"})
    assert ops == [
        {"op": "remove", "path": "/spec/http/1/mirror"},
        {"op": "remove", "path": "/spec/http/1/mirrorPercentage"},
        {"op": "remove", "path": "/spec/http/0"},
    ]


def test_a_route_pinning_users_to_the_baseline_stays() -> None:
    vs = virtual_service("default", (100, 0))
    vs["spec"]["http"][0]["route"] = [{"destination": destination("v1")}]
    assert router_for(*ISTIO).finish(vs, VS_TARGETS, {"v2"}) == []


def test_gateway_finish_removes_only_mirror_filters_and_the_test_rule() -> None:
    route = http_route("default", (100, 0))
    keep = {"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": []}}
    mirror = {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "app-v2"}}}
    route["spec"]["rules"][1]["filters"] = [mirror, keep]
    ops = router_for(*GATEWAY).finish(route, HR_TARGETS, {"v2"})
    assert ops == [
        {"op": "remove", "path": "/spec/rules/1/filters/0"},
        {"op": "remove", "path": "/spec/rules/0"},
    ]
    route["spec"]["rules"][1]["filters"] = [mirror]
    assert router_for(*GATEWAY).finish(route, HR_TARGETS, {"v2"})[0] == {
        "op": "remove",
        "path": "/spec/rules/1/filters",
    }


def test_promotion_patch_leaves_nothing_behind_on_the_embedded_store(store: SqliteStore) -> None:
    resource = Resource.from_api_version(*ISTIO)
    store.create(resource, dark_launch_vs())
    exp = experiment(
        [
            (v, ref(ISTIO, "app", t.field_path))
            for v, t in zip(("v1", "v2"), VS_TARGETS, strict=True)
        ]
    )
    during = apply_weights(store, exp, {"v1": 100, "v2": 0})
    assert (
        "mirror" in store.get(resource, "default", "app")["spec"]["http"][1]
    )  # kept while running
    assert during.patched == ()
    before = copy.deepcopy(store.get(resource, "default", "app"))
    applied = apply_weights(store, exp, {"v1": 0, "v2": 100}, finish=True)
    assert len(applied.patched) == 1  # one patch: the switch and the clean-up together
    assert applied.weights == {"v1": 0, "v2": 100}
    after = store.get(resource, "default", "app")["spec"]["http"]
    assert len(after) == 1 and "mirror" not in after[0] and "mirrorPercentage" not in after[0]
    assert [r["weight"] for r in after[0]["route"]] == [0, 100]
    assert after[0]["route"] == [
        {**r, "weight": w}
        for r, w in zip(before["spec"]["http"][1]["route"], (0, 100), strict=True)
    ]
