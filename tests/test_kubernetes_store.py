"""Direct smoke tests of KubernetesStore on kinds it must handle the same way: a core Secret, a
Knative Service (JSON-patched the way the route function shifts traffic) and an Experiment.
The full semantic contract lives in tests/store and runs against this backend as well."""

from __future__ import annotations

import base64
import copy
import os
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.config import ConfigException

from iter8.store.base import (
    AlreadyExists,
    Conflict,
    Expired,
    Invalid,
    NotFound,
    Object,
    PatchType,
    Store,
)
from iter8.store.kubernetes import KubernetesStore
from iter8.store.resources import EXPERIMENTS, KNATIVE_SERVICES, SECRETS
from tests.kube import REPO, apply_crds, load_yaml

pytestmark = pytest.mark.kube

KNATIVE_SERVICE_CRD = (
    Path(os.environ.get("ITER8_KNATIVE_CRDS", REPO.parent / "shared" / "crds" / "knative-k8s-1.20"))
    / "serving-service.yaml"
)
SAMPLE_SERVICE = (
    REPO.parent / "shared/compat/iter8-v2-samples/knative-quickstart-experimentalservice.yaml"
)


@pytest.fixture
def store(kube_client: client.ApiClient) -> KubernetesStore:
    return KubernetesStore(kube_client)


@pytest.fixture(scope="session")
def knative_service_crd(kube_client: client.ApiClient) -> None:
    if not KNATIVE_SERVICE_CRD.is_file():
        pytest.skip(f"no Knative Service CRD at {KNATIVE_SERVICE_CRD}")
    apply_crds(kube_client, load_yaml(KNATIVE_SERVICE_CRD))


def _secret(namespace: str, **data: str) -> Object:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"metadata": {"name": "creds", "namespace": namespace}, "data": encoded}


def test_is_a_store(store: KubernetesStore) -> None:
    assert isinstance(store, Store)


def test_secret_lifecycle(store: KubernetesStore, kube_namespace: str) -> None:
    created = store.create(SECRETS, _secret(kube_namespace, token="a"))
    assert (created["apiVersion"], created["kind"]) == ("v1", "Secret")
    rv = created["metadata"]["resourceVersion"]
    with pytest.raises(AlreadyExists):
        store.create(SECRETS, _secret(kube_namespace, token="b"))

    items, list_rv = store.list(SECRETS, kube_namespace)
    assert [(i["kind"], i["metadata"]["name"]) for i in items] == [("Secret", "creds")]
    assert int(list_rv) >= int(rv)

    patched = store.patch(SECRETS, kube_namespace, "creds", {"data": {"user": "dQ=="}})
    assert patched["data"] == {"token": "YQ==", "user": "dQ=="}
    with pytest.raises(Conflict):  # rv is stale now
        store.replace(
            SECRETS, {**_secret(kube_namespace, token="c"), "metadata": created["metadata"]}
        )
    replaced = store.replace(SECRETS, _secret(kube_namespace, token="c"))  # unconditional
    assert replaced["data"] == {"token": "Yw=="}

    with pytest.raises(Conflict):
        store.delete(SECRETS, kube_namespace, "creds", resource_version=rv)
    store.delete(
        SECRETS, kube_namespace, "creds", resource_version=replaced["metadata"]["resourceVersion"]
    )
    with pytest.raises(NotFound):
        store.get(SECRETS, kube_namespace, "creds")
    with pytest.raises(NotFound):
        store.patch(SECRETS, kube_namespace, "creds", {"data": {}})


def test_patch_preconditions(store: KubernetesStore, kube_namespace: str) -> None:
    rv = store.create(SECRETS, _secret(kube_namespace, a="1"))["metadata"]["resourceVersion"]
    add_b = [{"op": "add", "path": "/data/b", "value": "Mg=="}]
    new = store.patch(SECRETS, kube_namespace, "creds", add_b, PatchType.JSON, resource_version=rv)
    assert new["data"]["b"] == "Mg=="
    add_c = [{"op": "add", "path": "/data/c", "value": "Mw=="}]
    with pytest.raises(Conflict):
        store.patch(SECRETS, kube_namespace, "creds", add_c, PatchType.JSON, resource_version=rv)
    with pytest.raises(Conflict):
        store.patch(SECRETS, kube_namespace, "creds", {"data": {"c": "Mw=="}}, resource_version=rv)
    assert "c" not in store.get(SECRETS, kube_namespace, "creds")["data"]

    # A failing `test` op of the caller's own is a bad request, not a conflict.
    new_rv = new["metadata"]["resourceVersion"]
    wrong_test = [{"op": "test", "path": "/data/a", "value": "nope"}, *add_c]
    with pytest.raises(Invalid):
        store.patch(SECRETS, kube_namespace, "creds", wrong_test, PatchType.JSON)
    with pytest.raises(Invalid):
        store.patch(
            SECRETS, kube_namespace, "creds", wrong_test, PatchType.JSON, resource_version=new_rv
        )
    remove_missing = [{"op": "remove", "path": "/data/nope"}]
    with pytest.raises(Invalid):
        store.patch(SECRETS, kube_namespace, "creds", remove_missing, PatchType.JSON)


def test_knative_traffic_json_patch(
    store: KubernetesStore, knative_service_crd: None, kube_namespace: str
) -> None:
    """What the route function does: set each version's percent with an rv precondition."""
    service = copy.deepcopy(load_yaml(SAMPLE_SERVICE)[0])
    service["metadata"]["namespace"] = kube_namespace
    created = store.create(KNATIVE_SERVICES, service)
    rv = created["metadata"]["resourceVersion"]
    weights = [
        {"op": "replace", "path": "/spec/traffic/0/percent", "value": 40},
        {"op": "replace", "path": "/spec/traffic/1/percent", "value": 60},
    ]
    routed = store.patch(
        KNATIVE_SERVICES, kube_namespace, "sample-app", weights, PatchType.JSON, resource_version=rv
    )
    assert [t["percent"] for t in routed["spec"]["traffic"]] == [40, 60]
    assert routed["metadata"]["generation"] == created["metadata"]["generation"] + 1
    with pytest.raises(Conflict):
        store.patch(
            KNATIVE_SERVICES,
            kube_namespace,
            "sample-app",
            weights,
            PatchType.JSON,
            resource_version=rv,
        )
    bad = [{"op": "replace", "path": "/spec/traffic/0/percent", "value": "forty"}]
    with pytest.raises(Invalid):  # Knative's schema, enforced by the server
        store.patch(KNATIVE_SERVICES, kube_namespace, "sample-app", bad, PatchType.JSON)


def test_status_subresource(
    store: KubernetesStore, iter8_crds: list[str], kube_namespace: str
) -> None:
    exp = {
        "metadata": {"name": "e", "namespace": kube_namespace},
        "spec": {"target": "t", "strategy": {"testingPattern": "Conformance"}},
        "status": {"stage": "Completed"},
    }
    created = store.create(EXPERIMENTS, exp)
    assert "status" not in created
    status = {"status": {"stage": "Running"}, "spec": {"target": "ignored"}}
    after = store.patch(EXPERIMENTS, kube_namespace, "e", status, subresource="status")
    assert after["status"] == {"stage": "Running"}
    assert after["spec"] == exp["spec"]
    assert after["metadata"]["generation"] == created["metadata"]["generation"]
    with pytest.raises(Conflict):
        store.replace_status(EXPERIMENTS, {**after, "metadata": created["metadata"]})
    with pytest.raises(NotFound):  # Secrets have no /status
        store.replace_status(SECRETS, _secret(kube_namespace, a="1"))


def test_watch_sees_every_change_in_order(
    store: KubernetesStore, iter8_crds: list[str], kube_namespace: str
) -> None:
    _, rv = store.list(EXPERIMENTS, kube_namespace)
    exp = {
        "metadata": {"name": "w", "namespace": kube_namespace},
        "spec": {"target": "t", "strategy": {"testingPattern": "Canary"}},
    }
    store.create(EXPERIMENTS, exp)
    store.patch(
        EXPERIMENTS, kube_namespace, "w", {"status": {"stage": "Running"}}, subresource="status"
    )
    store.patch(EXPERIMENTS, kube_namespace, "w", {"spec": {"target": "u"}})
    store.delete(EXPERIMENTS, kube_namespace, "w")
    seen = []
    for event in store.watch(EXPERIMENTS, kube_namespace, resource_version=rv, timeout_seconds=5):
        seen.append((event.type, event.object["kind"], event.resource_version))
        if event.type == "DELETED":
            break
    assert [s[:2] for s in seen] == [
        ("ADDED", "Experiment"),
        ("MODIFIED", "Experiment"),
        ("MODIFIED", "Experiment"),
        ("DELETED", "Experiment"),
    ]
    rvs = [int(s[2]) for s in seen]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)


def test_watch_ends_after_its_timeout(
    store: KubernetesStore, iter8_crds: list[str], kube_namespace: str
) -> None:
    _, rv = store.list(EXPERIMENTS, kube_namespace)
    assert (
        list(store.watch(EXPERIMENTS, kube_namespace, resource_version=rv, timeout_seconds=1)) == []
    )


def test_watch_from_forgotten_history_is_expired(
    store: KubernetesStore, iter8_crds: list[str], kube_namespace: str
) -> None:
    with pytest.raises(Expired):
        list(store.watch(EXPERIMENTS, kube_namespace, resource_version="1", timeout_seconds=2))


def test_from_kubeconfig_owns_and_closes_its_client(kube_config: str, kube_namespace: str) -> None:
    store = KubernetesStore.from_kubeconfig(kube_config)
    try:
        assert store.list(SECRETS, kube_namespace)[0] == []
    finally:
        store.close()
    with pytest.raises(ConfigException):
        KubernetesStore.from_kubeconfig(str(REPO / "no-such-kubeconfig"))
