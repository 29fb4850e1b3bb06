"""Fixtures that make one contract suite run unchanged on every `Store` backend.

`store` is parametrized over the backends; `namespace` and `other_namespace` are plain names on
SQLite and fresh namespaces on the API server. The kubernetes parameters are marked `kube`; the
fixtures of `tests/kube.py` skip them (or fail them under CI=true) when no server runs.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from iter8.store import Store
from iter8.store.kubernetes import KubernetesStore
from iter8.store.sqlite import SqliteStore
from tests.compat import knative_crd
from tests.kube import apply_crds, load_yaml

BACKENDS = ["sqlite", pytest.param("kubernetes", marks=pytest.mark.kube)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if backend == "sqlite":
        opened: Store = SqliteStore(tmp_path / "store.db")
    else:
        request.getfixturevalue("iter8_crds")
        request.getfixturevalue("knative_crds")
        opened = KubernetesStore(request.getfixturevalue("kube_client"))
    yield opened
    opened.close()


@pytest.fixture
def namespace(backend: str, request: pytest.FixtureRequest) -> str:
    return "default" if backend == "sqlite" else str(request.getfixturevalue("kube_namespace"))


@pytest.fixture
def other_namespace(backend: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second namespace, for what must not leak between namespaces."""
    if backend == "sqlite":
        yield "other"
        return
    core = client.CoreV1Api(request.getfixturevalue("kube_client"))
    name = f"t-{secrets.token_hex(4)}"
    core.create_namespace(body={"metadata": {"name": name}}, _preload_content=False)
    yield name
    core.delete_namespace(name, _preload_content=False)


@pytest.fixture(scope="session")
def knative_crds(kube_client: client.ApiClient) -> list[str]:
    """The Knative Service CRD (the 1.20-compatible copy), for objects an experiment routes."""
    return apply_crds(kube_client, load_yaml(knative_crd("serving-service.yaml")))
