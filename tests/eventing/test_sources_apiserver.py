"""The ApiServerSource on the embedded store and on a real kube-apiserver: Knative's exact
attributes in both modes, nothing for objects that already existed, nothing for status updates.

"Nothing was sent" is checked without waiting for a silence: after the action that must send
nothing, the test creates a marker Experiment and waits for its event. The watch is ordered, so
an event for the earlier action would have arrived first.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventing.sources.apiserver import ApiServerSource, Mode, source_url, subject_of
from eventing.sources.delivery import Backoff
from iter8.store import EXPERIMENTS, Expired, Resource, Store, StoreError, WatchEvent
from iter8.store.base import Object
from iter8.store.sqlite import SqliteStore
from tests.eventing.test_sources_capture import Capture, Request
from tests.store.objects import experiment

BACKENDS = ["sqlite", pytest.param("kubernetes", marks=pytest.mark.kube)]
CE_HEADERS = {
    "ce-specversion",
    "ce-id",
    "ce-source",
    "ce-type",
    "ce-subject",
    "ce-time",
    "ce-kind",
    "ce-apiversion",
    "ce-name",
    "ce-namespace",
}


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SqliteStore(tmp_path / "store.db")
    else:
        from iter8.store.kubernetes import KubernetesStore

        request.getfixturevalue("iter8_crds")
        opened = KubernetesStore(request.getfixturevalue("kube_client"))
    yield opened
    opened.close()


@pytest.fixture
def capture() -> Iterator[Capture]:
    with Capture() as receiver:
        yield receiver


@pytest.fixture
def namespace(store: Store, request: pytest.FixtureRequest) -> str:
    if isinstance(store, SqliteStore):
        return "default"
    return str(request.getfixturevalue("kube_namespace"))


def _create(store: Store, namespace: str, name: str | None = None) -> Object:
    return store.create(EXPERIMENTS, experiment(namespace, name or f"exp-{secrets.token_hex(3)}"))


def _check_attributes(request: Request, store: Store, obj: Object, kind_of_data: str) -> None:
    meta = obj["metadata"]
    headers = request.headers
    assert {h for h in headers if h.startswith("ce-")} == CE_HEADERS
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-type"] == f"dev.knative.apiserver.{kind_of_data}.add"
    assert headers["ce-source"] == source_url(store)
    assert headers["ce-subject"] == (
        f"/apis/iter8.tools/v2alpha2/namespaces/{meta['namespace']}/experiments/{meta['name']}"
    )
    assert headers["ce-kind"] == "Experiment"
    assert headers["ce-apiversion"] == "iter8.tools/v2alpha2"
    assert headers["ce-name"] == meta["name"]
    assert headers["ce-namespace"] == meta["namespace"]
    assert headers["content-type"] == "application/json"
    assert uuid.UUID(headers["ce-id"]).version == 4
    event = request.event()  # and a CloudEvents client reads the same
    assert event["type"] == headers["ce-type"] and event["namespace"] == meta["namespace"]


def test_reference_mode_announces_new_experiments_only(
    store: Store, namespace: str, capture: Capture
) -> None:
    _create(store, namespace, "before")  # existed when the source started: no event
    with ApiServerSource(store, capture.url, namespace=namespace):
        created = _create(store, namespace, "after")
        [request] = capture.wait_for(1)
    _check_attributes(request, store, created, "ref")
    assert request.event().data == {
        "kind": "Experiment",
        "namespace": namespace,
        "name": "after",
        "apiVersion": "iter8.tools/v2alpha2",
    }
    assert list(request.event().data) == ["kind", "namespace", "name", "apiVersion"]


def test_resource_mode_sends_the_whole_object(
    store: Store, namespace: str, capture: Capture
) -> None:
    with ApiServerSource(store, capture.url, mode="Resource", namespace=namespace):
        created = _create(store, namespace)
        [request] = capture.wait_for(1)
    _check_attributes(request, store, created, "resource")
    data = request.event().data
    assert data["metadata"]["uid"] == created["metadata"]["uid"]
    assert data["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert data["spec"] == created["spec"]
    assert (data["apiVersion"], data["kind"]) == ("iter8.tools/v2alpha2", "Experiment")


def test_status_updates_and_deletes_send_nothing_by_default(
    store: Store, namespace: str, capture: Capture
) -> None:
    with ApiServerSource(store, capture.url, namespace=namespace):
        first = _create(store, namespace)
        name = first["metadata"]["name"]
        capture.wait_for(1)
        store.patch(
            EXPERIMENTS, namespace, name, {"status": {"stage": "Running"}}, subresource="status"
        )
        store.delete(EXPERIMENTS, namespace, name)
        _create(store, namespace, "marker")
        requests = capture.wait_for(2)
    assert [r.headers["ce-name"] for r in requests] == [name, "marker"]
    assert {r.headers["ce-type"] for r in requests} == {"dev.knative.apiserver.ref.add"}
    assert len(capture.requests) == 2


def test_update_and_delete_events_when_asked_for(
    store: Store, namespace: str, capture: Capture
) -> None:
    with ApiServerSource(
        store, capture.url, mode=Mode.RESOURCE, namespace=namespace, updates=True, deletes=True
    ):
        name = _create(store, namespace)["metadata"]["name"]
        capture.wait_for(1)
        patched = store.patch(
            EXPERIMENTS, namespace, name, {"status": {"stage": "Running"}}, subresource="status"
        )
        store.delete(EXPERIMENTS, namespace, name)
        requests = capture.wait_for(3)
    actions = [r.headers["ce-type"].rsplit(".", 1)[1] for r in requests]
    assert actions == ["add", "update", "delete"]
    update = requests[1].event().data
    assert update["status"]["stage"] == "Running"
    assert update["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]
    assert requests[2].event().data["metadata"]["name"] == name


def test_a_namespaced_source_ignores_other_namespaces(
    store: Store, namespace: str, capture: Capture, request: pytest.FixtureRequest
) -> None:
    other = "other" if isinstance(store, SqliteStore) else _new_namespace(request)
    with ApiServerSource(store, capture.url, namespace=namespace):
        _create(store, other, "elsewhere")
        _create(store, namespace, "marker")
        capture.wait_for(1)
        _create(store, namespace, "second-marker")
        requests = capture.wait_for(2)
    assert [r.headers["ce-name"] for r in requests] == ["marker", "second-marker"]


def test_an_all_namespaces_source_sees_every_namespace(
    store: Store, namespace: str, capture: Capture, request: pytest.FixtureRequest
) -> None:
    other = "other" if isinstance(store, SqliteStore) else _new_namespace(request)
    ours = {other, namespace}  # a shared API server may hold other tests' namespaces
    with ApiServerSource(store, capture.url):
        _create(store, other, "one")
        _create(store, namespace, "two")
        requests = capture.wait_for(2, where=lambda r: r.headers["ce-namespace"] in ours)
    assert [(r.headers["ce-namespace"], r.headers["ce-name"]) for r in requests] == [
        (other, "one"),
        (namespace, "two"),
    ]


def _new_namespace(request: pytest.FixtureRequest) -> str:
    from iter8.store.kubernetes import KubernetesStore
    from iter8.store.resources import NAMESPACES

    store = KubernetesStore(request.getfixturevalue("kube_client"))
    name = f"t-{secrets.token_hex(4)}"
    store.create(NAMESPACES, {"metadata": {"name": name}})
    request.addfinalizer(lambda: store.delete(NAMESPACES, "", name))
    return name


def test_source_is_the_api_server_url(store: Store, request: pytest.FixtureRequest) -> None:
    if isinstance(store, SqliteStore):
        assert source_url(store) == "sqlite://" + str(Path(store.path).resolve())
    else:
        host = request.getfixturevalue("kube_client").configuration.host
        assert source_url(store) == host
        assert host.startswith("https://127.0.0.1:")


class ExpiresOnce:
    """A store whose first watch finds its resourceVersion compacted; an Experiment is created
    in the gap, so only the re-list can see it. `relisted` is set once the source re-listed."""

    def __init__(self, inner: SqliteStore, namespace: str) -> None:
        self.inner, self.namespace, self.expired = inner, namespace, False
        self.path = inner.path
        self.relisted = threading.Event()

    def list(self, resource: Resource, namespace: str | None = None) -> tuple[list[Object], str]:
        listed = self.inner.list(resource, namespace)
        if self.expired:
            self.relisted.set()
        return listed

    def watch(
        self, resource: Resource, namespace: str | None = None, **kw: Any
    ) -> Iterator[WatchEvent]:
        if not self.expired:
            self.expired = True
            _create(self.inner, self.namespace, "in-the-gap")
            raise Expired("too old resource version")
        return self.inner.watch(resource, namespace, **kw)


def test_after_an_expired_watch_the_relist_announces_nothing(
    tmp_path: Path, capture: Capture
) -> None:
    inner = SqliteStore(tmp_path / "store.db")
    store = ExpiresOnce(inner, "default")
    with ApiServerSource(store, capture.url) as source:  # type: ignore[arg-type]
        assert store.relisted.wait(20)
        _create(inner, "default", "after")
        [request] = capture.wait_for(1)
    assert request.headers["ce-name"] == "after"
    assert (source.delivered, len(capture.requests)) == (1, 1)
    inner.close()


class FlakyRelist:
    """Its first watch expires and the re-list that follows fails once: the source must keep
    going, re-list again, and announce what is created afterwards."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner, self.path = inner, inner.path
        self.lists = 0
        self.relisted = threading.Event()

    def list(self, resource: Resource, namespace: str | None = None) -> tuple[list[Object], str]:
        self.lists += 1
        if self.lists == 2:
            raise StoreError("connection refused")
        listed = self.inner.list(resource, namespace)
        if self.lists == 3:
            self.relisted.set()  # only now: what is created from here on comes after the list
        return listed

    def watch(
        self, resource: Resource, namespace: str | None = None, **kw: Any
    ) -> Iterator[WatchEvent]:
        if self.lists == 1:
            raise Expired("too old resource version")
        return self.inner.watch(resource, namespace, **kw)


def test_a_store_failure_does_not_end_the_source(
    tmp_path: Path, capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eventing.sources.apiserver._RETRY_AFTER_ERROR", 0.01)
    inner = SqliteStore(tmp_path / "store.db")
    store = FlakyRelist(inner)
    with ApiServerSource(store, capture.url):  # type: ignore[arg-type]
        assert store.relisted.wait(20)
        _create(inner, "default", "after")
        [request] = capture.wait_for(1)
    assert request.headers["ce-name"] == "after"
    inner.close()


def test_retries_a_retriable_answer_with_the_same_event(tmp_path: Path, capture: Capture) -> None:
    store = SqliteStore(tmp_path / "store.db")
    capture.statuses = [503, 429]
    with ApiServerSource(store, capture.url) as source:
        _create(store, "default", "flaky")
        requests = capture.wait_for(3)
    assert len({r.headers["ce-id"] for r in requests}) == 1
    assert requests[0].body == requests[2].body
    assert (source.delivered, source.dropped) == (1, 0)
    store.close()


def test_gives_up_at_once_on_a_final_answer_and_after_five_retries(
    tmp_path: Path, capture: Capture
) -> None:
    store = SqliteStore(tmp_path / "store.db")
    capture.statuses = [400, *[503] * 6]
    with ApiServerSource(store, capture.url, backoff=Backoff(period=0.001)) as source:
        _create(store, "default", "refused")  # 400: one attempt only
        _create(store, "default", "unavailable")  # 503: 1 + 5 retries, then dropped
        _create(store, "default", "marker")
        requests = capture.wait_for(8)
    names = [r.headers["ce-name"] for r in requests]
    assert names == ["refused", *["unavailable"] * 6, "marker"]
    assert (source.delivered, source.dropped) == (1, 2)
    store.close()


def test_subject_of_a_bare_group_gets_version_unknown_as_in_knative() -> None:
    obj = {
        "apiVersion": "serving.knative.dev",
        "kind": "Service",
        "metadata": {"namespace": "n", "name": "s"},
    }
    assert subject_of(obj) == "/apis/serving.knative.dev/versionUnknown/namespaces/n/services/s"


def test_stop_ends_the_thread(tmp_path: Path, capture: Capture) -> None:
    store = SqliteStore(tmp_path / "store.db")
    source = ApiServerSource(store, capture.url)
    source.start()
    source.stop()
    assert source._thread is not None and not source._thread.is_alive()
    store.close()
