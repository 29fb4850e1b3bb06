"""The store contract: Kubernetes API semantics, checked the same way on every backend.

Each test runs once per backend (`store` is parametrized in conftest.py). The real API server is
the reference: where it and this suite disagree, the suite is wrong.
"""

from __future__ import annotations

import copy
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from iter8.store import (
    EXPERIMENTS,
    METRICS,
    SECRETS,
    Conflict,
    Invalid,
    NotFound,
    PatchType,
    Store,
    StoreError,
    WatchEvent,
)
from iter8.store.base import AlreadyExists
from iter8.store.resources import KNATIVE_SERVICES
from tests.store.objects import KINDS, STATUS_KINDS, Kind, Object, b64, experiment, knative_service

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
WATCH_LIMIT = 30.0  # seconds; a safety net that ends a broken watch, never a speed expectation

each_kind = pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
each_status_kind = pytest.mark.parametrize(
    "kind", list(STATUS_KINDS.values()), ids=list(STATUS_KINDS)
)


def rv(obj: Object) -> int:
    return int(obj["metadata"]["resourceVersion"])


def names(items: list[Object]) -> list[str]:
    return [item["metadata"]["name"] for item in items]


# --- create, get, list ---------------------------------------------------------------------


@each_kind
def test_create_fills_server_fields_and_keeps_content(
    store: Store, namespace: str, kind: Kind
) -> None:
    written = kind.make(namespace, "first")
    created = store.create(kind.resource, written)

    meta = created["metadata"]
    assert (created["apiVersion"], created["kind"]) == (written["apiVersion"], written["kind"])
    assert (meta["namespace"], meta["name"]) == (namespace, "first")
    assert uuid.UUID(meta["uid"])
    assert RFC3339_UTC.fullmatch(meta["creationTimestamp"])
    assert meta["resourceVersion"].isdigit()
    assert created[kind.content] == written[kind.content]
    if kind.counts_generations:
        assert meta["generation"] == 1
    else:  # core/v1 kinds such as Secret have no generation
        assert "generation" not in meta


@each_kind
def test_get_and_list_return_what_was_created(store: Store, namespace: str, kind: Kind) -> None:
    first = store.create(kind.resource, kind.make(namespace, "first"))
    second = store.create(kind.resource, kind.make(namespace, "second"))

    got = store.get(kind.resource, namespace, "first")
    assert got["metadata"]["uid"] == first["metadata"]["uid"]
    assert rv(got) == rv(first)
    assert got[kind.content] == first[kind.content]

    items, list_rv = store.list(kind.resource, namespace)
    assert names(items) == ["first", "second"]
    assert [rv(item) for item in items] == [rv(first), rv(second)]
    assert all(item["kind"] == kind.resource.kind for item in items)
    assert int(list_rv) >= rv(second)

    everywhere, _ = store.list(kind.resource)
    mine = [item for item in everywhere if item["metadata"]["namespace"] == namespace]
    assert names(mine) == ["first", "second"]


def test_list_is_scoped_to_its_namespace(
    store: Store, namespace: str, other_namespace: str
) -> None:
    store.create(EXPERIMENTS, experiment(namespace, "here"))
    store.create(EXPERIMENTS, experiment(other_namespace, "there"))

    assert names(store.list(EXPERIMENTS, namespace)[0]) == ["here"]
    assert names(store.list(EXPERIMENTS, other_namespace)[0]) == ["there"]


def test_returned_objects_are_the_callers_to_change(store: Store, namespace: str) -> None:
    created = store.create(EXPERIMENTS, experiment(namespace, "exp"))
    created["spec"]["target"] = "changed"
    got = store.get(EXPERIMENTS, namespace, "exp")
    got["spec"]["target"] = "changed"
    items, _ = store.list(EXPERIMENTS, namespace)
    items[0]["spec"]["target"] = "changed"

    assert store.get(EXPERIMENTS, namespace, "exp")["spec"]["target"] == f"{namespace}/sample-app"


def test_secret_string_data_is_stored_as_base64_data(store: Store, namespace: str) -> None:
    written = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": namespace},
        "stringData": {"password": "hunter2"},
    }
    created = store.create(SECRETS, written)

    assert created["data"] == {"password": b64("hunter2")}
    assert "stringData" not in created
    assert created["type"] == "Opaque"
    assert store.get(SECRETS, namespace, "creds")["data"] == {"password": b64("hunter2")}


def test_secret_data_must_be_base64(store: Store, namespace: str) -> None:
    written = {**KINDS["secret"].make(namespace, "creds"), "data": {"token": "not base64!"}}
    with pytest.raises(Invalid):
        store.create(SECRETS, written)


def test_create_of_an_existing_name_is_AlreadyExists(store: Store, namespace: str) -> None:
    first = store.create(EXPERIMENTS, experiment(namespace, "exp"))
    again = experiment(namespace, "exp")
    again["spec"]["target"] = "someone-else"

    with pytest.raises(AlreadyExists):
        store.create(EXPERIMENTS, again)
    assert store.get(EXPERIMENTS, namespace, "exp") == first


@pytest.mark.parametrize("name", ["Upper", "under_score", "-leading", "trailing-", "a" * 254])
def test_a_name_that_is_not_a_DNS_subdomain_is_Invalid(
    store: Store, namespace: str, name: str
) -> None:
    with pytest.raises(Invalid):
        store.create(EXPERIMENTS, experiment(namespace, name))
    assert store.list(EXPERIMENTS, namespace)[0] == []


# --- not found -----------------------------------------------------------------------------

MISSING: dict[str, Callable[[Store, str], Any]] = {
    "get": lambda s, ns: s.get(EXPERIMENTS, ns, "missing"),
    "replace": lambda s, ns: s.replace(EXPERIMENTS, experiment(ns, "missing")),
    "replace_status": lambda s, ns: s.replace_status(EXPERIMENTS, experiment(ns, "missing")),
    "merge-patch": lambda s, ns: s.patch(EXPERIMENTS, ns, "missing", {"spec": {"target": "x"}}),
    "json-patch": lambda s, ns: s.patch(
        EXPERIMENTS,
        ns,
        "missing",
        [{"op": "replace", "path": "/spec/target", "value": "x"}],
        PatchType.JSON,
    ),
    "status-patch": lambda s, ns: s.patch(
        EXPERIMENTS, ns, "missing", {"status": {"stage": "Running"}}, subresource="status"
    ),
    "delete": lambda s, ns: s.delete(EXPERIMENTS, ns, "missing"),
}


@pytest.mark.parametrize("operation", list(MISSING.values()), ids=list(MISSING))
def test_an_object_that_does_not_exist_is_NotFound(
    store: Store, namespace: str, operation: Callable[[Store, str], Any]
) -> None:
    store.create(EXPERIMENTS, experiment(namespace, "present"))
    with pytest.raises(NotFound):
        operation(store, namespace)


def test_an_object_is_found_only_in_its_own_namespace(
    store: Store, namespace: str, other_namespace: str
) -> None:
    store.create(EXPERIMENTS, experiment(namespace, "exp"))
    with pytest.raises(NotFound):
        store.get(EXPERIMENTS, other_namespace, "exp")


# --- the status subresource ----------------------------------------------------------------


@each_status_kind
def test_create_drops_status(store: Store, namespace: str, kind: Kind) -> None:
    written = {**kind.make(namespace, "obj"), "status": kind.status}
    created = store.create(kind.resource, written)

    assert "status" not in created
    assert "status" not in store.get(kind.resource, namespace, "obj")


def _status_via_replace(store: Store, kind: Kind, obj: Object, status: Object) -> Object:
    return store.replace_status(kind.resource, {**obj, "status": status})


def _status_via_patch(store: Store, kind: Kind, obj: Object, status: Object) -> Object:
    meta = obj["metadata"]
    body = {kind.content: obj[kind.content], "metadata": {"labels": meta.get("labels")}}
    body["status"] = status
    return store.patch(kind.resource, meta["namespace"], meta["name"], body, subresource="status")


@each_status_kind
@pytest.mark.parametrize("write_status", [_status_via_replace, _status_via_patch])
def test_a_status_write_changes_only_status(
    store: Store,
    namespace: str,
    kind: Kind,
    write_status: Callable[[Store, Kind, Object, Object], Object],
) -> None:
    created = store.create(kind.resource, kind.make(namespace, "obj"))
    sneaky = copy.deepcopy(created)
    sneaky[kind.content] = _merged(sneaky[kind.content], kind.change[kind.content])
    sneaky["metadata"]["labels"] = {"sneaked": "in"}

    written = write_status(store, kind, sneaky, kind.status or {})

    for obj in (written, store.get(kind.resource, namespace, "obj")):
        assert obj["status"] == kind.status
        assert obj[kind.content] == created[kind.content]
        assert "labels" not in obj["metadata"]
        assert obj["metadata"]["generation"] == 1
        assert rv(obj) > rv(created)


@each_status_kind
def test_a_write_of_the_object_never_changes_status(
    store: Store, namespace: str, kind: Kind
) -> None:
    created = store.create(kind.resource, kind.make(namespace, "obj"))
    with_status = store.replace_status(kind.resource, {**created, "status": kind.status})

    replaced = copy.deepcopy(with_status)
    replaced[kind.content] = _merged(replaced[kind.content], kind.change[kind.content])
    replaced["status"] = {"observedGeneration": 99, "message": "not through /status"}
    replaced = store.replace(kind.resource, replaced)
    assert replaced["status"] == kind.status
    assert replaced[kind.content] == _merged(created[kind.content], kind.change[kind.content])
    assert replaced["metadata"]["generation"] == 2

    patched = store.patch(
        kind.resource, namespace, "obj", {"status": None, "metadata": {"labels": {"a": "b"}}}
    )
    assert patched["status"] == kind.status
    assert patched["metadata"]["labels"] == {"a": "b"}
    assert patched["metadata"]["generation"] == 2
    assert store.get(kind.resource, namespace, "obj")["status"] == kind.status


@each_kind
def test_generation_counts_content_changes_only(store: Store, namespace: str, kind: Kind) -> None:
    created = store.create(kind.resource, kind.make(namespace, "obj"))
    labelled = store.patch(kind.resource, namespace, "obj", {"metadata": {"labels": {"a": "b"}}})
    changed = store.patch(kind.resource, namespace, "obj", kind.change)

    assert rv(created) < rv(labelled) < rv(changed)
    generations = [obj["metadata"].get("generation") for obj in (created, labelled, changed)]
    assert generations == ([1, 1, 2] if kind.counts_generations else [None, None, None])


def test_without_a_status_subresource_status_is_ordinary_content(
    store: Store, namespace: str
) -> None:
    """Metrics have no `/status`: status is kept on create, written like the spec, and moves the
    generation; the `/status` endpoint does not exist (404)."""
    created = store.create(METRICS, {**KINDS["metric"].make(namespace, "m"), "status": {"a": "1"}})
    assert created["status"] == {"a": "1"}

    patched = store.patch(METRICS, namespace, "m", {"status": {"a": "2"}})
    assert patched["status"] == {"a": "2"}
    assert patched["metadata"]["generation"] == 2

    with pytest.raises(NotFound):
        store.patch(METRICS, namespace, "m", {"status": {"a": "3"}}, subresource="status")
    with pytest.raises(NotFound):
        store.replace_status(METRICS, {**patched, "status": {"a": "3"}})
    assert store.get(METRICS, namespace, "m")["status"] == {"a": "2"}


# --- patches -------------------------------------------------------------------------------


def test_merge_patch_merges_objects_replaces_lists_and_null_deletes(
    store: Store, namespace: str
) -> None:
    store.create(EXPERIMENTS, experiment(namespace, "exp"))
    patched = store.patch(
        EXPERIMENTS,
        namespace,
        "exp",
        {
            "metadata": {"labels": {"team": "a", "tier": "web"}},
            "spec": {
                "duration": {"maxLoops": 7},
                "criteria": None,
                "versionInfo": {"candidates": [{"name": "only"}]},
            },
        },
    )
    spec = patched["spec"]
    assert spec["duration"] == {"intervalSeconds": 1, "iterationsPerLoop": 1, "maxLoops": 7}
    assert "criteria" not in spec
    assert spec["versionInfo"]["candidates"] == [{"name": "only"}]
    assert spec["versionInfo"]["baseline"]["name"] == "sample-app-v1"
    assert patched["metadata"]["labels"] == {"team": "a", "tier": "web"}

    unlabelled = store.patch(EXPERIMENTS, namespace, "exp", {"metadata": {"labels": {"a": None}}})
    assert unlabelled["metadata"]["labels"] == {"team": "a", "tier": "web"}
    unlabelled = store.patch(
        EXPERIMENTS, namespace, "exp", {"metadata": {"labels": {"team": None}}}
    )
    assert unlabelled["metadata"]["labels"] == {"tier": "web"}
    assert store.get(EXPERIMENTS, namespace, "exp") == unlabelled


def test_json_patch_sets_traffic_percents(store: Store, namespace: str) -> None:
    created = store.create(KNATIVE_SERVICES, knative_service(namespace, "sample-app"))
    patched = store.patch(
        KNATIVE_SERVICES,
        namespace,
        "sample-app",
        [
            {"op": "replace", "path": "/spec/traffic/0/percent", "value": 40},
            {"op": "replace", "path": "/spec/traffic/1/percent", "value": 60},
        ],
        PatchType.JSON,
    )

    traffic = patched["spec"]["traffic"]
    assert [entry["percent"] for entry in traffic] == [40, 60]
    assert [entry["tag"] for entry in traffic] == ["current", "candidate"]
    assert patched["spec"]["template"] == created["spec"]["template"]
    assert patched["metadata"]["generation"] == 2
    assert store.get(KNATIVE_SERVICES, namespace, "sample-app") == patched


BAD_JSON_PATCHES = {
    "failing-test": [
        {"op": "test", "path": "/spec/traffic/0/percent", "value": 99},
        {"op": "replace", "path": "/spec/traffic/0/percent", "value": 0},
    ],
    "missing-index": [{"op": "replace", "path": "/spec/traffic/5/percent", "value": 0}],
    "missing-key": [{"op": "remove", "path": "/spec/nothing"}],
}


@pytest.mark.parametrize("patch", list(BAD_JSON_PATCHES.values()), ids=list(BAD_JSON_PATCHES))
def test_a_json_patch_that_does_not_apply_is_Invalid_and_changes_nothing(
    store: Store, namespace: str, patch: list[Object]
) -> None:
    created = store.create(KNATIVE_SERVICES, knative_service(namespace, "sample-app"))
    with pytest.raises(Invalid):
        store.patch(KNATIVE_SERVICES, namespace, "sample-app", patch, PatchType.JSON)
    assert store.get(KNATIVE_SERVICES, namespace, "sample-app") == created


def test_a_write_that_changes_nothing_keeps_the_resource_version(
    store: Store, namespace: str
) -> None:
    created = store.create(EXPERIMENTS, experiment(namespace, "exp"))
    same_patch = store.patch(
        EXPERIMENTS, namespace, "exp", {"spec": {"target": created["spec"]["target"]}}
    )
    same_replace = store.replace(EXPERIMENTS, created)

    assert rv(same_patch) == rv(same_replace) == rv(created)
    assert store.get(EXPERIMENTS, namespace, "exp") == created


# --- resourceVersion preconditions ---------------------------------------------------------


def _replace(store: Store, obj: Object, stale: str) -> Object:
    body = {**obj, "metadata": {**obj["metadata"], "resourceVersion": stale}}
    return store.replace(EXPERIMENTS, _merged(body, {"spec": {"target": "replaced"}}))


def _replace_status(store: Store, obj: Object, stale: str) -> Object:
    body = {**obj, "metadata": {**obj["metadata"], "resourceVersion": stale}}
    return store.replace_status(EXPERIMENTS, {**body, "status": {"stage": "Running"}})


def _merge_patch_with_rv_in_body(store: Store, obj: Object, stale: str) -> Object:
    patch = {"metadata": {"resourceVersion": stale}, "spec": {"target": "patched"}}
    return store.patch(EXPERIMENTS, obj["metadata"]["namespace"], "exp", patch)


def _merge_patch(store: Store, obj: Object, stale: str) -> Object:
    ns = obj["metadata"]["namespace"]
    return store.patch(EXPERIMENTS, ns, "exp", {"spec": {"target": "x"}}, resource_version=stale)


def _json_patch(store: Store, obj: Object, stale: str) -> Object:
    ops = [{"op": "replace", "path": "/spec/target", "value": "x"}]
    ns = obj["metadata"]["namespace"]
    return store.patch(EXPERIMENTS, ns, "exp", ops, PatchType.JSON, resource_version=stale)


def _status_patch(store: Store, obj: Object, stale: str) -> Object:
    ns, patch = obj["metadata"]["namespace"], {"status": {"stage": "Running"}}
    return store.patch(EXPERIMENTS, ns, "exp", patch, resource_version=stale, subresource="status")


def _delete(store: Store, obj: Object, stale: str) -> None:
    store.delete(EXPERIMENTS, obj["metadata"]["namespace"], "exp", resource_version=stale)


PRECONDITIONED = {
    "replace": _replace,
    "replace_status": _replace_status,
    "merge-patch-rv-in-body": _merge_patch_with_rv_in_body,
    "merge-patch": _merge_patch,
    "json-patch": _json_patch,
    "status-patch": _status_patch,
    "delete": _delete,
}


@pytest.mark.parametrize("write", list(PRECONDITIONED.values()), ids=list(PRECONDITIONED))
def test_a_stale_resource_version_is_Conflict_and_the_current_one_wins(
    store: Store, namespace: str, write: Callable[[Store, Object, str], Object | None]
) -> None:
    created = store.create(EXPERIMENTS, experiment(namespace, "exp"))
    current = store.patch(EXPERIMENTS, namespace, "exp", {"metadata": {"labels": {"v": "2"}}})
    stale = created["metadata"]["resourceVersion"]

    with pytest.raises(Conflict):
        write(store, current, stale)
    assert store.get(EXPERIMENTS, namespace, "exp") == current

    write(store, current, current["metadata"]["resourceVersion"])
    if write is _delete:
        assert store.list(EXPERIMENTS, namespace)[0] == []
    else:
        assert rv(store.get(EXPERIMENTS, namespace, "exp")) > rv(current)


def test_a_replace_without_resource_version_is_unconditional(store: Store, namespace: str) -> None:
    """The Store contract: only a given resourceVersion is a precondition."""
    created = store.create(EXPERIMENTS, experiment(namespace, "exp"))
    store.patch(EXPERIMENTS, namespace, "exp", {"metadata": {"labels": {"v": "2"}}})
    body = copy.deepcopy(created)
    del body["metadata"]["resourceVersion"]
    body["spec"]["target"] = "replaced"

    replaced = store.replace(EXPERIMENTS, body)
    assert replaced["spec"]["target"] == "replaced"
    assert "labels" not in replaced["metadata"]


def test_a_replace_of_an_object_deleted_and_created_again_is_Conflict(
    store: Store, namespace: str
) -> None:
    """A PUT's uid is a precondition too: same name and resourceVersion, another object."""
    old = store.create(EXPERIMENTS, experiment(namespace, "exp"))
    store.delete(EXPERIMENTS, namespace, "exp")
    new = store.create(EXPERIMENTS, experiment(namespace, "exp"))
    current_rv = new["metadata"]["resourceVersion"]
    body = {**old, "metadata": {**old["metadata"], "resourceVersion": current_rv}}

    with pytest.raises(Conflict):
        store.replace(EXPERIMENTS, _merged(body, {"spec": {"target": "replaced"}}))
    assert store.get(EXPERIMENTS, namespace, "exp") == new


RACING_WRITES: dict[str, Callable[[Store, Object, int], Object]] = {
    "merge-patch": lambda s, obj, i: s.patch(
        EXPERIMENTS,
        obj["metadata"]["namespace"],
        obj["metadata"]["name"],
        {"spec": {"target": f"writer-{i}"}},
        resource_version=obj["metadata"]["resourceVersion"],
    ),
    "replace": lambda s, obj, i: s.replace(
        EXPERIMENTS, _merged(obj, {"spec": {"target": f"writer-{i}"}})
    ),
    "status-patch": lambda s, obj, i: s.patch(
        EXPERIMENTS,
        obj["metadata"]["namespace"],
        obj["metadata"]["name"],
        {"status": {"message": f"writer-{i}"}},
        resource_version=obj["metadata"]["resourceVersion"],
        subresource="status",
    ),
}


@pytest.mark.parametrize("write", list(RACING_WRITES.values()), ids=list(RACING_WRITES))
def test_of_threads_racing_from_one_resource_version_exactly_one_wins(
    store: Store, namespace: str, write: Callable[[Store, Object, int], Object]
) -> None:
    writers = 8
    store.create(EXPERIMENTS, experiment(namespace, "exp"))
    all_have_read = threading.Barrier(writers, timeout=WATCH_LIMIT)
    outcomes: list[str] = []
    outcomes_lock = threading.Lock()

    def writer(i: int) -> None:
        obj = store.get(EXPERIMENTS, namespace, "exp")
        all_have_read.wait()
        try:
            write(store, obj, i)
            outcome = f"won writer-{i}"
        except Conflict:
            outcome = "conflict"
        except StoreError as e:
            outcome = f"{type(e).__name__}: {e}"
        with outcomes_lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [outcome for outcome in outcomes if outcome.startswith("won")]
    assert sorted(outcomes) == sorted(winners + ["conflict"] * (writers - 1))
    assert len(winners) == 1
    final = store.get(EXPERIMENTS, namespace, "exp")
    assert winners[0].removeprefix("won ") in (
        final["spec"]["target"],
        final.get("status", {}).get("message"),
    )


# --- delete --------------------------------------------------------------------------------


@each_kind
def test_delete_removes_the_object(store: Store, namespace: str, kind: Kind) -> None:
    store.create(kind.resource, kind.make(namespace, "doomed"))
    store.create(kind.resource, kind.make(namespace, "kept"))
    store.delete(kind.resource, namespace, "doomed")

    with pytest.raises(NotFound):
        store.get(kind.resource, namespace, "doomed")
    assert names(store.list(kind.resource, namespace)[0]) == ["kept"]
    with pytest.raises(NotFound):
        store.delete(kind.resource, namespace, "doomed")


def test_finalizers_hold_a_deleted_object_until_they_are_removed(
    store: Store, namespace: str
) -> None:
    _, since = store.list(EXPERIMENTS, namespace)
    written = experiment(namespace, "exp")
    written["metadata"]["finalizers"] = ["iter8.tools/cleanup"]
    store.create(EXPERIMENTS, written)

    store.delete(EXPERIMENTS, namespace, "exp")
    deleting = store.get(EXPERIMENTS, namespace, "exp")
    assert RFC3339_UTC.fullmatch(deleting["metadata"]["deletionTimestamp"])
    assert deleting["metadata"]["generation"] == 2
    store.delete(EXPERIMENTS, namespace, "exp")  # already being deleted: nothing changes
    assert store.get(EXPERIMENTS, namespace, "exp") == deleting
    with pytest.raises(Invalid):
        store.patch(EXPERIMENTS, namespace, "exp", {"metadata": {"finalizers": ["a", "b"]}})

    last = store.patch(EXPERIMENTS, namespace, "exp", {"metadata": {"finalizers": None}})
    with pytest.raises(NotFound):
        store.get(EXPERIMENTS, namespace, "exp")
    events = []
    for event in store.watch(
        EXPERIMENTS, namespace, resource_version=since, timeout_seconds=WATCH_LIMIT
    ):
        events.append(event)
        if event.type == "DELETED":
            break
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[1].object == deleting
    assert rv(last) == rv(deleting)
    assert "finalizers" not in last["metadata"]
    assert int(events[2].resource_version) > rv(deleting)


def test_a_name_can_be_reused_after_delete(store: Store, namespace: str) -> None:
    first = store.create(EXPERIMENTS, experiment(namespace, "exp"))
    store.delete(EXPERIMENTS, namespace, "exp")
    second = store.create(EXPERIMENTS, experiment(namespace, "exp"))

    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert rv(second) > rv(first)
    assert second["metadata"]["generation"] == 1


# --- watch ---------------------------------------------------------------------------------


def test_a_watch_from_a_lists_version_sees_every_change_in_order(
    store: Store, namespace: str
) -> None:
    """Changes made from another thread, some before and some while the watch streams."""
    _, since = store.list(EXPERIMENTS, namespace)
    modifications = 3
    added_seen = threading.Event()
    written: list[int] = []
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            written.append(rv(store.create(EXPERIMENTS, experiment(namespace, "exp"))))
            added_seen.wait(WATCH_LIMIT)
            for i in range(modifications):
                patch = {"spec": {"duration": {"maxLoops": 10 + i}}}
                written.append(rv(store.patch(EXPERIMENTS, namespace, "exp", patch)))
            store.delete(EXPERIMENTS, namespace, "exp")
        except BaseException as e:
            failures.append(e)

    thread = threading.Thread(target=writer)
    thread.start()
    events: list[WatchEvent] = []
    try:
        for event in store.watch(
            EXPERIMENTS, namespace, resource_version=since, timeout_seconds=WATCH_LIMIT
        ):
            events.append(event)
            added_seen.set()
            if event.type == "DELETED":
                break
    finally:
        added_seen.set()
        thread.join()

    assert failures == []
    assert [e.type for e in events] == ["ADDED"] + ["MODIFIED"] * modifications + ["DELETED"]
    versions = [int(e.resource_version) for e in events]
    assert versions[:-1] == written
    assert versions == sorted(set(versions))
    assert versions[0] > int(since)
    loops = [e.object["spec"]["duration"]["maxLoops"] for e in events]
    assert loops == [3, *range(10, 10 + modifications), 10 + modifications - 1]
    assert all(e.object["metadata"]["name"] == "exp" for e in events)


def test_a_watch_sees_only_its_namespace(
    store: Store, namespace: str, other_namespace: str
) -> None:
    _, since = store.list(EXPERIMENTS)
    store.create(EXPERIMENTS, experiment(other_namespace, "there"))
    store.create(EXPERIMENTS, experiment(namespace, "here"))
    store.delete(EXPERIMENTS, namespace, "here")

    seen = []
    for event in store.watch(
        EXPERIMENTS, namespace, resource_version=since, timeout_seconds=WATCH_LIMIT
    ):
        seen.append((event.type, event.object["metadata"]["name"]))
        if event.type == "DELETED":
            break
    assert seen == [("ADDED", "here"), ("DELETED", "here")]

    everywhere = []
    for event in store.watch(EXPERIMENTS, resource_version=since, timeout_seconds=WATCH_LIMIT):
        if event.object["metadata"]["namespace"] in (namespace, other_namespace):
            everywhere.append((event.type, event.object["metadata"]["name"]))
            if event.type == "DELETED":
                break
    assert everywhere == [("ADDED", "there"), ("ADDED", "here"), ("DELETED", "here")]


def test_a_watch_ends_after_its_timeout(store: Store, namespace: str) -> None:
    store.create(EXPERIMENTS, experiment(namespace, "exp"))
    _, since = store.list(EXPERIMENTS, namespace)

    assert (
        list(store.watch(EXPERIMENTS, namespace, resource_version=since, timeout_seconds=1)) == []
    )


def test_a_watch_from_zero_starts_with_the_objects_that_exist(store: Store, namespace: str) -> None:
    """resourceVersion "0" means "from now": an ADDED for each existing object, then changes."""
    store.create(EXPERIMENTS, experiment(namespace, "a"))
    store.create(EXPERIMENTS, experiment(namespace, "b"))
    store.delete(EXPERIMENTS, namespace, "b")

    events = list(store.watch(EXPERIMENTS, namespace, resource_version="0", timeout_seconds=1))
    assert (events[0].type, events[0].object["metadata"]["name"]) == ("ADDED", "a")
    # A server's watch cache may still be catching up with "b"; then it follows in order.
    exists: set[str] = set()
    for event in events:
        change = exists.discard if event.type == "DELETED" else exists.add
        change(event.object["metadata"]["name"])
    assert exists == {"a"}


def _merged(target: Any, patch: Any) -> Any:
    """A deep merge for building test input (independent of the store's own merge patch)."""
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target)
    for key, value in patch.items():
        result[key] = _merged(result.get(key), value)
    return result
