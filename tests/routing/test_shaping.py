"""The end of an experiment removes its mirror (dark launch) and its test routes to candidates,
in the patch that sets the final weights; routes reaching the baseline are the user's and stay."""

from __future__ import annotations

import copy

from iter8.routing import WeightTarget, apply_weights, prepare_routing, router_for
from iter8.store.base import PatchType
from iter8.store.patching import apply_patch
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


def untagged_service() -> dict:
    """v1 carries the user's own tag `current`; v2 has none."""
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {
            "traffic": [
                {"tag": "current", "revisionName": "app-v1", "percent": 100},
                {"revisionName": "app-v2", "percent": 0},
            ]
        },
    }


KN_TARGETS = [WeightTarget(v, f".spec.traffic[{i}].percent") for i, v in enumerate(("v1", "v2"))]


def test_knative_tags_the_untagged_versions_and_removes_only_those_at_the_end() -> None:
    router = router_for("serving.knative.dev/v1", "Service")
    service = untagged_service()
    ops = router.prepare(service, KN_TARGETS)
    assert ops == [
        {"op": "add", "path": "/spec/traffic/1/tag", "value": "v2"},
        {"op": "add", "path": "/metadata/annotations", "value": {"iter8.tools/tags": "v2"}},
    ]
    tagged = apply_patch(service, ops, PatchType.JSON)
    assert router.prepare(tagged, KN_TARGETS) == []  # in place: nothing more
    assert router.finish(tagged, KN_TARGETS, {"v2"}) == [
        {"op": "remove", "path": "/spec/traffic/1/tag"},
        {"op": "remove", "path": "/metadata/annotations/iter8.tools~1tags"},
    ]
    assert router.finish(service, KN_TARGETS, {"v2"}) == []  # nothing added: nothing removed


def test_knative_leaves_a_version_untagged_when_its_name_is_taken_or_no_dns_label() -> None:
    router = router_for("serving.knative.dev/v1", "Service")
    service = untagged_service()
    service["spec"]["traffic"][0]["tag"] = "v2"  # the user's tag on v1 happens to be "v2"
    assert router.prepare(service, KN_TARGETS) == []
    bad = [KN_TARGETS[0], WeightTarget("V2_candidate", KN_TARGETS[1].field_path)]
    assert router.prepare(untagged_service(), bad) == []


def test_knative_tags_live_while_the_experiment_runs_on_the_embedded_store(
    store: SqliteStore,
) -> None:
    resource = Resource.from_api_version("serving.knative.dev/v1", "Service")
    service = untagged_service()
    service["metadata"]["annotations"] = {"team": "a"}
    store.create(resource, service)
    exp = experiment(
        [
            (v, ref(("serving.knative.dev/v1", "Service"), "app", t.field_path))
            for v, t in zip(("v1", "v2"), KN_TARGETS, strict=True)
        ]
    )
    prepared = prepare_routing(store, exp)
    assert len(prepared) == 1
    apply_weights(store, exp, {"v1": 60, "v2": 40})
    during = store.get(resource, "default", "app")
    assert [e.get("tag") for e in during["spec"]["traffic"]] == ["current", "v2"]
    assert during["metadata"]["annotations"] == {"team": "a", "iter8.tools/tags": "v2"}
    apply_weights(store, exp, {"v1": 0, "v2": 100}, finish=True)
    after = store.get(resource, "default", "app")
    assert after["spec"]["traffic"] == [
        {"tag": "current", "revisionName": "app-v1", "percent": 0},
        {"revisionName": "app-v2", "percent": 100},
    ]
    assert after["metadata"]["annotations"] == {"team": "a"}
