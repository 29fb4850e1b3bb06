"""The write rules as pure functions: RFC 7386 and 6902 patches, names, the status/spec split."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from iter8.store import EXPERIMENTS, METRICS, SECRETS, Invalid, PatchType, Resource
from iter8.store.patching import (
    apply_patch,
    copy_json,
    json_patch,
    mark_deleting,
    merge_patch,
    prepare_create,
    prepare_update,
    tracks_generation,
    validate_name,
)
from iter8.store.resources import KNATIVE_SERVICES
from tests.store.objects import experiment

# RFC 7386, Appendix A: target, patch, result.
RFC7386_EXAMPLES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC7386_EXAMPLES)
def test_merge_patch_follows_RFC_7386(target: Any, patch: Any, result: Any) -> None:
    before = copy.deepcopy((target, patch))
    assert merge_patch(target, patch) == result
    assert (target, patch) == before


def test_json_patch_applies_in_order_and_leaves_its_input_alone() -> None:
    target = {"spec": {"traffic": [{"percent": 100}, {"percent": 0}]}}
    ops = [
        {"op": "test", "path": "/spec/traffic/0/percent", "value": 100},
        {"op": "replace", "path": "/spec/traffic/0/percent", "value": 30},
        {"op": "replace", "path": "/spec/traffic/1/percent", "value": 70},
    ]
    assert json_patch(target, ops) == {"spec": {"traffic": [{"percent": 30}, {"percent": 70}]}}
    assert target == {"spec": {"traffic": [{"percent": 100}, {"percent": 0}]}}


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/a", "value": 2}],
        [{"op": "replace", "path": "/b", "value": 2}],
        [{"op": "remove", "path": "/a/b/c"}],
        [{"op": "jump", "path": "/a"}],
        [{"path": "/a"}],
        [{"op": "add", "path": "a", "value": 1}],
        {"op": "add", "path": "/a", "value": 1},
    ],
    ids=["test-fails", "missing", "deep-missing", "unknown-op", "no-op", "bad-pointer", "no-list"],
)
def test_a_json_patch_that_does_not_apply_is_Invalid(ops: Any) -> None:
    with pytest.raises(Invalid):
        json_patch({"a": 1}, ops)


def test_apply_patch_refuses_a_merge_patch_that_is_not_an_object() -> None:
    with pytest.raises(Invalid):
        apply_patch({"a": 1}, [{"op": "remove", "path": "/a"}], PatchType.MERGE)


@pytest.mark.parametrize("name", ["a", "exp-1", "a.b-c.d", "x" * 253, "0abc"])
def test_DNS_subdomain_names_are_valid(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", None, "A", "a_b", "-a", "a-", "a..b", ".a", "x" * 254])
def test_other_names_are_Invalid(name: Any) -> None:
    with pytest.raises(Invalid):
        validate_name(name)


def _created() -> dict[str, Any]:
    return prepare_create(
        EXPERIMENTS, experiment("default", "exp"), uid="u-1", now="2026-01-01T00:00:00Z"
    ) | {"status": {"stage": "Running"}}


def test_create_sets_server_fields_and_drops_status_only_with_a_status_subresource() -> None:
    written = {**experiment("default", "exp"), "status": {"stage": "Done"}}
    created = prepare_create(EXPERIMENTS, written, uid="u-1", now="2026-01-01T00:00:00Z")
    assert "status" not in created
    assert created["metadata"] == {
        "name": "exp",
        "namespace": "default",
        "uid": "u-1",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "generation": 1,
    }
    metric = {"metadata": {"name": "m", "namespace": "default"}, "status": {"a": 1}}
    assert prepare_create(METRICS, metric, uid="u", now="t")["status"] == {"a": 1}
    assert "status" in written


def test_create_refuses_a_resource_version_a_missing_namespace_and_a_foreign_kind() -> None:
    obj = experiment("default", "exp")
    for bad in (
        {**obj, "metadata": {**obj["metadata"], "resourceVersion": "5"}},
        {**obj, "metadata": {"name": "exp"}},
        {**obj, "kind": "Metric"},
    ):
        with pytest.raises(Invalid):
            prepare_create(EXPERIMENTS, bad, uid="u", now="t")


def test_a_spec_write_keeps_status_and_server_fields_and_bumps_generation() -> None:
    old = _created()
    new = copy.deepcopy(old)
    new["spec"]["target"] = "elsewhere"
    new["status"] = {"stage": "Hacked"}
    new["metadata"].update(uid="", generation=40, creationTimestamp="1999-01-01T00:00:00Z")

    stored = prepare_update(EXPERIMENTS, old, new, status=False)
    assert stored["spec"]["target"] == "elsewhere"
    assert stored["status"] == {"stage": "Running"}
    assert stored["metadata"]["uid"] == "u-1"
    assert stored["metadata"]["creationTimestamp"] == "2026-01-01T00:00:00Z"
    assert stored["metadata"]["generation"] == 2


def test_a_metadata_write_keeps_the_generation() -> None:
    old = _created()
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"a": "b"}
    new["status"] = {"stage": "Hacked"}
    stored = prepare_update(EXPERIMENTS, old, new, status=False)
    assert stored["metadata"]["generation"] == 1
    assert stored["metadata"]["labels"] == {"a": "b"}


def test_a_status_write_keeps_all_but_status() -> None:
    old = _created()
    new = copy.deepcopy(old)
    new["spec"]["target"] = "elsewhere"
    new["metadata"]["labels"] = {"a": "b"}
    new["status"] = {"stage": "Completed"}

    stored = prepare_update(EXPERIMENTS, old, new, status=True)
    assert stored == {**old, "status": {"stage": "Completed"}}
    del new["status"]
    assert "status" not in prepare_update(EXPERIMENTS, old, new, status=True)


def test_without_a_status_subresource_a_status_change_bumps_generation() -> None:
    old = prepare_create(
        METRICS, {"metadata": {"name": "m", "namespace": "d"}, "spec": {}}, uid="u", now="t"
    )
    stored = prepare_update(METRICS, old, {**old, "status": {"a": 1}}, status=False)
    assert stored["status"] == {"a": 1}
    assert stored["metadata"]["generation"] == 2


@pytest.mark.parametrize(
    "change", [{"uid": "someone-else"}, {"name": "renamed"}, {"namespace": "moved"}]
)
def test_identity_is_immutable(change: dict[str, str]) -> None:
    old = _created()
    new = copy.deepcopy(old)
    new["metadata"].update(change)
    with pytest.raises(Invalid):
        prepare_update(EXPERIMENTS, old, new, status=False)


def test_secrets_fold_string_data_into_base64_data_and_count_no_generation() -> None:
    written = {"metadata": {"name": "s", "namespace": "d"}, "stringData": {"k": "v"}}
    created = prepare_create(SECRETS, written, uid="u", now="t")
    assert created["data"] == {"k": "dg=="}
    assert created["type"] == "Opaque"
    assert "stringData" not in created
    assert "generation" not in created["metadata"]
    updated = prepare_update(SECRETS, created, {**created, "data": {"k": "dw=="}}, status=False)
    assert "generation" not in updated["metadata"]


@pytest.mark.parametrize(
    ("resource", "counts"),
    [
        (EXPERIMENTS, True),
        (KNATIVE_SERVICES, True),
        (Resource("apps", "v1", "deployments", "Deployment"), True),
        (SECRETS, False),
        (Resource("coordination.k8s.io", "v1", "leases", "Lease", status_subresource=False), False),
    ],
    ids=lambda value: value.kind if isinstance(value, Resource) else str(value),
)
def test_which_kinds_count_generations(resource: Resource, counts: bool) -> None:
    """As observed on kube-apiserver: a Lease, like a Secret, has no generation."""
    assert tracks_generation(resource) is counts


def test_a_delete_with_finalizers_marks_the_object_and_bumps_its_generation() -> None:
    old = _created()
    marked = mark_deleting(old, now="2026-01-02T00:00:00Z")
    assert marked["metadata"]["deletionTimestamp"] == "2026-01-02T00:00:00Z"
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 0
    assert marked["metadata"]["generation"] == 2
    assert "deletionTimestamp" not in old["metadata"]


def test_an_object_being_deleted_keeps_its_mark_and_takes_no_new_finalizers() -> None:
    created = _created()
    created["metadata"]["finalizers"] = ["a"]
    old = mark_deleting(created, now="t")
    new = copy.deepcopy(old)
    del new["metadata"]["deletionTimestamp"]
    assert (
        prepare_update(EXPERIMENTS, old, new, status=False)["metadata"]["deletionTimestamp"] == "t"
    )
    new["metadata"]["finalizers"] = ["a", "b"]
    with pytest.raises(Invalid):
        prepare_update(EXPERIMENTS, old, new, status=False)


def test_secret_data_that_is_not_base64_is_Invalid() -> None:
    written = {"metadata": {"name": "s", "namespace": "d"}, "data": {"k": "not base64!"}}
    with pytest.raises(Invalid):
        prepare_create(SECRETS, written, uid="u", now="t")


def test_a_status_write_shares_nothing_with_what_was_written_or_stored() -> None:
    """The written status is copied (a caller may reuse its dicts), and so is the old metadata
    the write keeps; changing any of them afterwards leaves the result alone."""
    old = prepare_create(EXPERIMENTS, experiment("default", "exp"), uid="u", now="t")
    old["metadata"]["resourceVersion"] = "5"
    new = {**copy.deepcopy(old), "status": {"stage": "Running", "conditions": [{"type": "A"}]}}
    stored = prepare_update(EXPERIMENTS, old, new, status=True)
    kept = copy.deepcopy(stored)
    new["status"]["conditions"][0]["type"] = "B"
    new["status"]["stage"] = "Done"
    old["metadata"]["labels"] = {"changed": "yes"}
    assert stored == kept


def test_copy_json_is_a_deep_copy() -> None:
    value = {"a": [1, {"b": (2, [3])}], "c": None, "d": "x", "e": 1.5, "f": True}
    copied = copy_json(value)
    assert copied == value
    assert copied is not value and copied["a"] is not value["a"]
    assert (
        copied["a"][1] is not value["a"][1] and copied["a"][1]["b"][1] is not value["a"][1]["b"][1]
    )
