"""Fixtures of the cluster tests (the server fixtures themselves are in tests/kube.py)."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.cluster.tools import KNATIVE_CRDS
from tests.compat import knative_crd
from tests.kube import apply_crds, load_yaml


@pytest.fixture(scope="session")
def knative_crds(kube_client: client.ApiClient, iter8_crds: list[str]) -> list[str]:
    """The real Knative CRDs the manifests use (and the project's own), Established."""
    docs = [doc for name in KNATIVE_CRDS for doc in load_yaml(knative_crd(name))]
    return [*iter8_crds, *apply_crds(kube_client, docs)]
