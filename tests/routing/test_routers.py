"""The routers' pure planning and reading, on sample-shaped objects."""

from __future__ import annotations

import pytest

from iter8.routing import RoutingError, WeightTarget, router_for
from tests.routing.objects import (
    ISTIO,
    KNATIVE,
    SMI,
    knative_service,
    traffic_split,
    virtual_service,
)

KN_TARGETS = [
    WeightTarget("v1", ".spec.traffic[0].percent"),
    WeightTarget("v2", ".spec.traffic[1].percent"),
]
VS_TARGETS = [
    WeightTarget("v1", ".spec.http[0].route[0].weight"),
    WeightTarget("v2", ".spec.http[0].route[1].weight"),
]


@pytest.mark.parametrize(
    ("api_version", "kind", "name"),
    [
        (*KNATIVE, "knative"),
        ("serving.knative.dev/v1", "Route", "knative"),
        (*ISTIO, "istio"),
        ("networking.istio.io/v1alpha3", "VirtualService", "istio"),
        (*SMI, "smi"),
        ("split.smi-spec.io/v1alpha1", "TrafficSplit", "smi"),
        ("v1", "Service", "generic"),
        ("example.com/v1", "Weights", "generic"),
    ],
)
def test_the_most_specific_router_is_chosen(api_version: str, kind: str, name: str) -> None:
    assert router_for(api_version, kind).name == name


def test_knative_plan_replaces_both_percentages() -> None:
    ops = router_for(*KNATIVE).plan(knative_service((100, 0)), KN_TARGETS, {"v1": 70, "v2": 30})
    assert ops == [
        {"op": "replace", "path": "/spec/traffic/0/percent", "value": 70},
        {"op": "replace", "path": "/spec/traffic/1/percent", "value": 30},
    ]


def test_unchanged_fields_get_no_operation() -> None:
    router = router_for(*KNATIVE)
    assert router.plan(knative_service((60, 40)), KN_TARGETS, {"v1": 60, "v2": 40}) == []
    ops = router_for(*ISTIO).plan(virtual_service((50, 50)), VS_TARGETS, {"v1": 50, "v2": 80})
    assert ops == [{"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 80}]


def test_a_missing_knative_percent_is_zero_and_is_added() -> None:
    service = knative_service((100, None))
    router = router_for(*KNATIVE)
    assert router.read(service, ".spec.traffic[1].percent") == 0
    ops = router.plan(service, KN_TARGETS, {"v1": 90, "v2": 10})
    assert {"op": "add", "path": "/spec/traffic/1/percent", "value": 10} in ops


@pytest.mark.parametrize(
    ("percents", "weights", "total"),
    [
        ((100, 0), {"v1": 50, "v2": 40}, 90),
        ((100, 0), {"v1": 100, "v2": 10}, 110),
        ((80, 0, 20), {"v1": 50, "v2": 50}, 120),  # a third entry the experiment does not own
    ],
)
def test_knative_refuses_a_split_that_does_not_sum_to_100(
    percents: tuple[int, ...], weights: dict[str, int], total: int
) -> None:
    with pytest.raises(RoutingError, match=f"sum to {total}, want 100"):
        router_for(*KNATIVE).plan(knative_service(percents), KN_TARGETS, weights)


def test_knative_accepts_a_third_entry_that_keeps_the_sum() -> None:
    ops = router_for(*KNATIVE).plan(knative_service((80, 0, 20)), KN_TARGETS, {"v1": 40, "v2": 40})
    assert [op["value"] for op in ops] == [40, 40]


def test_istio_weights_are_relative_so_no_sum_is_enforced() -> None:
    ops = router_for(*ISTIO).plan(virtual_service(), VS_TARGETS, {"v1": 60, "v2": 60})
    assert len(ops) == 2


@pytest.mark.parametrize(
    ("kind", "obj", "field_path", "message"),
    [
        (KNATIVE, knative_service(), ".spec.template.metadata.name", "spec.traffic"),
        (ISTIO, virtual_service(), ".spec.http[0].weight", "route"),
        (SMI, traffic_split(), ".spec.backends[0].service", "backends"),
    ],
)
def test_a_field_path_outside_the_traffic_block_is_refused(
    kind: tuple[str, str], obj: dict, field_path: str, message: str
) -> None:
    with pytest.raises(RoutingError, match=message):
        router_for(*kind).plan(obj, [WeightTarget("v1", field_path)], {"v1": 100})


def test_a_path_past_the_end_of_the_list_is_refused() -> None:
    targets = [WeightTarget("v1", ".spec.http[0].route[5].weight")]
    with pytest.raises(RoutingError, match=r"route\[5\] does not exist"):
        router_for(*ISTIO).plan(virtual_service(), targets, {"v1": 100})


def test_two_versions_on_one_field_are_refused() -> None:
    targets = [WeightTarget("v1", ".spec.backends[0].weight")] * 2
    with pytest.raises(RoutingError, match="both route through"):
        router_for(*SMI).plan(traffic_split(), targets, {"v1": 50})


@pytest.mark.parametrize("weight", [-1, 101, 50.0, True, "50"])
def test_weights_must_be_integers_0_to_100(weight: object) -> None:
    with pytest.raises(RoutingError, match=r"integer 0\.\.100"):
        router_for(*ISTIO).plan(virtual_service(), VS_TARGETS[:1], {"v1": weight})  # type: ignore[dict-item]


def test_smi_reads_whole_number_quantities_and_refuses_fractions() -> None:
    router = router_for("split.smi-spec.io/v1alpha1", "TrafficSplit")
    split = traffic_split(("75", "500m"))
    assert router.read(split, ".spec.backends[0].weight") == 75
    with pytest.raises(RoutingError, match="not an integer"):
        router.read(split, ".spec.backends[1].weight")


def test_generic_router_writes_any_integer_field() -> None:
    obj = {"spec": {"weights": {"blue": 100, "green/x": 0}}}
    targets = [
        WeightTarget("blue", ".spec.weights.blue"),
        WeightTarget("green", ".spec.weights['green/x']"),
    ]
    ops = router_for("example.com/v1", "Split").plan(obj, targets, {"blue": 0, "green": 100})
    assert ops[1] == {"op": "replace", "path": "/spec/weights/green~1x", "value": 100}
    with pytest.raises(RoutingError, match="not an integer"):
        router_for("example.com/v1", "Split").read({"spec": {"w": "x"}}, ".spec.w")
