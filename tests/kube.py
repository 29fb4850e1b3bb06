"""Fixtures for tests against a real kube-apiserver (`scripts/kube-apiserver.sh start`).

Without a server the tests skip with the command to run, so a plain `pytest` passes anywhere;
in CI (`CI=true`) they fail instead, so a broken server never turns into silently skipped tests.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from kubernetes import client, config

from iter8.store.base import AlreadyExists, StoreError
from iter8.store.kubernetes import KubernetesStore
from iter8.store.resources import NAMESPACES, Resource

REPO = Path(__file__).resolve().parents[1]
LOCAL_KUBECONFIG = REPO / ".state" / "kube" / "kubeconfig"
ITER8_CRDS = REPO / "eventing" / "config" / "crds"
START_HINT = "run scripts/kube-apiserver.sh start"
CRDS = Resource(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    namespaced=False,
)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: kube tests must not skip)", pytrace=False)
    pytest.skip(reason)


def _is_local(host: str) -> bool:
    name = urlparse(host).hostname or ""
    try:
        return name == "localhost" or ip_address(name).is_loopback
    except ValueError:
        return False


def _new_client(path: str) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=path, client_configuration=cfg)
    return client.ApiClient(cfg)


def _ready(api: client.ApiClient) -> bool:
    _, url, headers, _, _ = api.param_serialize("GET", "/readyz", auth_settings=["BearerToken"])
    try:
        response = api.call_api("GET", url, header_params=headers, _request_timeout=(2, 5))
        response.read()
    except Exception:
        return False
    return response.status == 200


@pytest.fixture(scope="session")
def kube_config() -> str:
    """Path of a kubeconfig whose server answers /readyz: $KUBECONFIG, else the local one.

    Only loopback servers are used unless ITER8_TEST_REMOTE_KUBE=1: these tests create
    namespaces and CRDs, which nobody wants by accident in a real cluster.
    """
    path = os.environ.get("KUBECONFIG") or str(LOCAL_KUBECONFIG)
    if not any(Path(p).is_file() for p in path.split(os.pathsep)):  # KUBECONFIG may be a list
        _unavailable(f"no kube-apiserver reachable: {START_HINT} (no kubeconfig at {path})")
    try:
        api = _new_client(path)
    except Exception as e:
        _unavailable(f"no kube-apiserver reachable: {START_HINT} ({path}: {e})")
    with api:
        host = api.configuration.host
        if not _is_local(host) and os.environ.get("ITER8_TEST_REMOTE_KUBE") != "1":
            _unavailable(f"{path} points at {host}, not 127.0.0.1; ITER8_TEST_REMOTE_KUBE=1 allows")
        if not _ready(api):
            _unavailable(f"no kube-apiserver reachable: {START_HINT} ({host} not ready)")
    return path


@pytest.fixture(scope="session")
def kube_client(kube_config: str) -> Iterator[client.ApiClient]:
    """One API client for the session."""
    api = _new_client(kube_config)
    yield api
    api.rest_client.pool_manager.clear()
    api.close()


@pytest.fixture
def kube_namespace(kube_client: client.ApiClient) -> Iterator[str]:
    """A fresh namespace per test. Deleted without waiting: with no namespace controller it
    stays Terminating, and etcd is wiped on the next server start anyway."""
    store = KubernetesStore(kube_client)
    name = f"t-{secrets.token_hex(4)}"
    store.create(NAMESPACES, {"metadata": {"name": name, "labels": {"iter8.tools/test": "true"}}})
    yield name
    with contextlib.suppress(StoreError):
        store.delete(NAMESPACES, "", name)


def apply_crds(api: client.ApiClient, documents: Iterable[dict[str, Any]]) -> list[str]:
    """Create each CRD, or update it to this definition; wait until all are Established."""
    store = KubernetesStore(api)
    names = []
    for doc in documents:
        names.append(doc["metadata"]["name"])
        try:
            store.create(CRDS, doc)
        except AlreadyExists:
            store.replace(CRDS, doc)
    for name in names:
        _wait_established(store, name)
    return names


def _wait_established(store: KubernetesStore, name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        conditions = (store.get(CRDS, "", name).get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            return
        time.sleep(0.1)
    raise TimeoutError(f"CRD {name} not Established after 30 s")


def load_yaml(path: Path) -> list[dict[str, Any]]:
    """The non-empty documents of a (multi-document) YAML file."""
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


@pytest.fixture(scope="session")
def iter8_crds(kube_client: client.ApiClient) -> list[str]:
    """The project's CRDs (eventing/config/crds), installed and Established; their names."""
    docs = [doc for path in sorted(ITER8_CRDS.glob("*.yaml")) for doc in load_yaml(path)]
    return apply_crds(kube_client, docs)
