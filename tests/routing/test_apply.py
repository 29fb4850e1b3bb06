"""`apply_weights` and `read_weights` on the embedded store, with sample-shaped objects."""

from __future__ import annotations

import pytest

from iter8.api.experiment import Experiment
from iter8.routing import (
    RoutingError,
    apply_weights,
    check_atomic_switch,
    promote_weights,
    promotion_is_routed,
    read_weights,
    weights_are_applied,
)
from iter8.store.base import Conflict, PatchType
from iter8.store.resources import ISTIO_VIRTUAL_SERVICES, KNATIVE_SERVICES, SMI_TRAFFIC_SPLITS
from iter8.store.sqlite import SqliteStore
from tests.routing.conftest import Recording
from tests.routing.objects import (
    ISTIO,
    KNATIVE,
    SMI,
    experiment,
    knative_experiment,
    knative_service,
    ref,
    traffic_split,
    virtual_service,
)


def percents(store: SqliteStore, ns: str = "default") -> list[int | None]:
    service = store.get(KNATIVE_SERVICES, ns, "sample-app")
    return [entry.get("percent") for entry in service["spec"]["traffic"]]


def test_knative_split_is_one_patch_with_a_resource_version(store: SqliteStore) -> None:
    created = store.create(KNATIVE_SERVICES, knative_service((100, 0)))
    recording = Recording(store)
    applied = apply_weights(
        recording.store, knative_experiment(), {"sample-app-v1": 70, "sample-app-v2": 30}
    )
    assert len(recording.patches) == 1
    (_, name, operations, resource_version) = recording.patches[0]
    assert name == "sample-app" and len(operations) == 2
    assert resource_version == created["metadata"]["resourceVersion"]
    assert percents(store) == [70, 30]
    assert applied.weights == {"sample-app-v1": 70, "sample-app-v2": 30}
    assert applied.patched[0].router == "knative" and applied.conflicts == 0


def test_an_unchanged_split_writes_nothing(store: SqliteStore) -> None:
    before = store.create(KNATIVE_SERVICES, knative_service((60, 40)))
    recording = Recording(store)
    applied = apply_weights(
        recording.store, knative_experiment(), {"sample-app-v1": 60, "sample-app-v2": 40}
    )
    assert recording.patches == []
    assert [str(key) for key in applied.unchanged] == [
        "Service.serving.knative.dev/v1 default/sample-app"
    ]
    after = store.get(KNATIVE_SERVICES, "default", "sample-app")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_only_changed_fields_are_in_the_patch(store: SqliteStore) -> None:
    store.create(ISTIO_VIRTUAL_SERVICES, virtual_service((50, 50)))
    exp = experiment(
        [
            ("v1", ref(ISTIO, "bookinfo", ".spec.http[0].route[0].weight")),
            ("v2", ref(ISTIO, "bookinfo", ".spec.http[0].route[1].weight")),
        ],
        ns="bookinfo-iter8",
        testing="A/B",
    )
    applied = apply_weights(store, exp, {"v1": 50, "v2": 80})
    assert applied.patched[0].operations == [
        {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 80}
    ]
    assert read_weights(store, exp) == {"v1": 50, "v2": 80}


def test_one_patch_per_object_when_versions_span_objects(store: SqliteStore) -> None:
    store.create(ISTIO_VIRTUAL_SERVICES, virtual_service((100, 0), ns="default"))
    store.create(SMI_TRAFFIC_SPLITS, traffic_split((0, 0), ns="default"))
    exp = experiment(
        [
            ("a", ref(ISTIO, "bookinfo", ".spec.http[0].route[0].weight")),
            ("b", ref(ISTIO, "bookinfo", ".spec.http[0].route[1].weight")),
            ("c", ref(SMI, "web-split", ".spec.backends[1].weight")),
        ],
        testing="A/B/N",
    )
    recording = Recording(store)
    applied = apply_weights(recording.store, exp, {"a": 50, "b": 30, "c": 20})
    assert sorted(name for _, name, _, _ in recording.patches) == ["bookinfo", "web-split"]
    assert applied.weights == {"a": 50, "b": 30, "c": 20}


def test_a_split_knative_would_refuse_is_not_written(store: SqliteStore) -> None:
    store.create(KNATIVE_SERVICES, knative_service((100, 0)))
    with pytest.raises(RoutingError, match="sum to 90, want 100"):
        apply_weights(store, knative_experiment(), {"sample-app-v1": 50, "sample-app-v2": 40})
    assert percents(store) == [100, 0]


def test_no_object_is_written_when_another_refuses(store: SqliteStore) -> None:
    store.create(ISTIO_VIRTUAL_SERVICES, virtual_service((100, 0), ns="default"))
    store.create(KNATIVE_SERVICES, knative_service((100, 0)))
    exp = experiment(
        [
            ("a", ref(ISTIO, "bookinfo", ".spec.http[0].route[0].weight")),
            ("b", ref(KNATIVE, "sample-app", ".spec.traffic[1].percent")),
        ]
    )
    recording = Recording(store)
    with pytest.raises(RoutingError, match=r"sample-app.*want 100"):
        apply_weights(recording.store, exp, {"a": 50, "b": 50})
    assert recording.patches == []


def test_a_concurrent_writer_causes_a_conflict_then_a_reread(store: SqliteStore) -> None:
    store.create(KNATIVE_SERVICES, knative_service((100, 0)))

    def rival(calls: int) -> None:  # someone else writes between our read and our patch
        if calls == 0:
            patch = {"metadata": {"labels": {"rival": "yes"}}}
            store.patch(KNATIVE_SERVICES, "default", "sample-app", patch, PatchType.MERGE)

    recording = Recording(store, before_patch=rival)
    applied = apply_weights(
        recording.store, knative_experiment(), {"sample-app-v1": 20, "sample-app-v2": 80}
    )
    assert len(recording.patches) == 2
    assert recording.patches[0][3] != recording.patches[1][3]  # re-read: a newer resourceVersion
    assert applied.patched[0].attempts == 2 and applied.conflicts == 1
    service = store.get(KNATIVE_SERVICES, "default", "sample-app")
    assert service["metadata"]["labels"] == {"rival": "yes"}  # the rival's write survives
    assert percents(store) == [20, 80]


def test_a_rival_that_reaches_the_wanted_split_makes_the_retry_a_no_op(
    store: SqliteStore,
) -> None:
    store.create(KNATIVE_SERVICES, knative_service((100, 0)))
    ops = [
        {"op": "replace", "path": "/spec/traffic/0/percent", "value": 20},
        {"op": "replace", "path": "/spec/traffic/1/percent", "value": 80},
    ]

    def rival(calls: int) -> None:
        if calls == 0:
            store.patch(KNATIVE_SERVICES, "default", "sample-app", ops, PatchType.JSON)

    recording = Recording(store, before_patch=rival)
    applied = apply_weights(
        recording.store, knative_experiment(), {"sample-app-v1": 20, "sample-app-v2": 80}
    )
    assert len(recording.patches) == 1 and applied.patched == ()
    assert applied.weights == {"sample-app-v1": 20, "sample-app-v2": 80}


def test_endless_conflicts_give_up_with_conflict(store: SqliteStore) -> None:
    store.create(KNATIVE_SERVICES, knative_service((100, 0)))

    def rival(calls: int) -> None:
        patch = {"metadata": {"labels": {"n": str(calls)}}}
        store.patch(KNATIVE_SERVICES, "default", "sample-app", patch, PatchType.MERGE)

    recording = Recording(store, before_patch=rival)
    with pytest.raises(Conflict, match="gave up after 3"):
        apply_weights(
            recording.store,
            knative_experiment(),
            {"sample-app-v1": 0, "sample-app-v2": 100},
            max_attempts=3,
        )
    assert len(recording.patches) == 3
    assert percents(store) == [100, 0]


def test_read_back_is_by_name_with_the_implied_weight_of_the_baseline(
    store: SqliteStore,
) -> None:
    """Iter8 v2 appended the implied weight at the end of a list (§3.9 quirk 1): with the
    baseline lacking a ref, its weight went to the last candidate. Here it is keyed by name."""
    store.create(SMI_TRAFFIC_SPLITS, traffic_split((25, 15), ns="default"))
    exp = experiment(
        [
            ("baseline", None),
            ("c1", ref(SMI, "web-split", ".spec.backends[0].weight")),
            ("c2", ref(SMI, "web-split", ".spec.backends[1].weight")),
        ],
        testing="A/B/N",
    )
    weights = read_weights(store, exp)
    assert weights == {"baseline": 60, "c1": 25, "c2": 15}
    assert list(weights) == ["baseline", "c1", "c2"]
    applied = apply_weights(store, exp, {"baseline": 10, "c1": 30, "c2": 60})
    assert applied.weights == {"baseline": 10, "c1": 30, "c2": 60}


def test_more_than_one_version_without_a_ref_cannot_be_read(store: SqliteStore) -> None:
    store.create(SMI_TRAFFIC_SPLITS, traffic_split((25, 15), ns="default"))
    versions = [("a", None), ("b", None), ("c", ref(SMI, "web-split", ".spec.backends[0].weight"))]
    with pytest.raises(RoutingError, match=r"\['a', 'b'\] have no weightObjRef"):
        read_weights(store, experiment(versions, testing="A/B/N"))
    fixed = experiment(versions, testing="A/B/N", deployment="FixedSplit")
    assert read_weights(store, fixed) == {"c": 25}


def test_implied_weight_below_zero_is_an_error(store: SqliteStore) -> None:
    store.create(ISTIO_VIRTUAL_SERVICES, virtual_service((90, 30), ns="default"))
    exp = experiment(
        [
            ("a", None),
            ("b", ref(ISTIO, "bookinfo", ".spec.http[0].route[0].weight")),
            ("c", ref(ISTIO, "bookinfo", ".spec.http[0].route[1].weight")),
        ],
        testing="A/B/N",
    )
    with pytest.raises(RoutingError, match="others already hold 120"):
        read_weights(store, exp)


def test_the_routed_object_defaults_to_the_experiments_namespace(store: SqliteStore) -> None:
    store.create(KNATIVE_SERVICES, knative_service((100, 0), ns="team-a"))
    exp = knative_experiment(ns="team-a", ref_ns=None)
    apply_weights(store, exp, {"sample-app-v1": 0, "sample-app-v2": 100})
    assert percents(store, "team-a") == [0, 100]


def test_missing_object_and_missing_weight_are_clear_errors(store: SqliteStore) -> None:
    with pytest.raises(RoutingError, match="default/sample-app: not found"):
        read_weights(store, knative_experiment())
    store.create(KNATIVE_SERVICES, knative_service())
    with pytest.raises(RoutingError, match="no weight for version 'sample-app-v2'"):
        apply_weights(store, knative_experiment(), {"sample-app-v1": 100})
    with pytest.raises(RoutingError, match="unknown versions"):
        apply_weights(store, knative_experiment(), {"sample-app-v1": 100, "nope": 0})


def test_promotion_sends_everything_to_the_winner(store: SqliteStore) -> None:
    store.create(KNATIVE_SERVICES, knative_service((40, 60)))
    exp = knative_experiment()
    weights = promote_weights(exp, "sample-app-v2")
    assert weights == {"sample-app-v1": 0, "sample-app-v2": 100}
    assert apply_weights(store, exp, weights).weights == weights
    with pytest.raises(RoutingError, match="not one of the versions"):
        promote_weights(exp, "sample-app-v3")


def test_conformance_and_fixed_split_shift_no_traffic() -> None:
    assert weights_are_applied(experiment([("a", None), ("b", None)], testing="A/B"))
    assert not weights_are_applied(experiment([("a", None)], testing="Conformance"))
    assert not weights_are_applied(experiment([("a", None)], deployment="FixedSplit"))
    assert not weights_are_applied(experiment([("a", None)], deployment="BlueGreen"))
    assert promotion_is_routed(experiment([("a", None)], deployment="BlueGreen"))
    assert promotion_is_routed(experiment([("a", None)], deployment="FixedSplit"))
    assert not promotion_is_routed(experiment([("a", None)], testing="Conformance"))


def test_a_blue_green_switch_across_two_objects_is_refused() -> None:
    def blue_green(second: str) -> Experiment:
        return experiment(
            [
                ("v1", ref(ISTIO, "bookinfo", ".spec.http[0].route[0].weight")),
                ("v2", ref(ISTIO, second, ".spec.http[0].route[1].weight")),
            ],
            deployment="BlueGreen",
        )

    check_atomic_switch(blue_green("bookinfo"))
    with pytest.raises(RoutingError, match="one patch of one object, but the weightObjRefs name 2"):
        check_atomic_switch(blue_green("other"))
