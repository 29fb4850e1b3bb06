"""`iter8 run --kubeconfig` continues an experiment the cluster holds already with the very same
spec (a stopped run): what the API server hands back must compare equal to the manifest, or
every rerun in a cluster would be refused as "another spec"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from iter8.embedded.run import RunError, create
from iter8.manifests import Document
from iter8.store import EXPERIMENTS
from iter8.store.kubernetes import KubernetesStore

pytestmark = pytest.mark.kube
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "canary.yaml"


def documents(namespace: str, interval: int) -> list[Document]:
    """examples/canary.yaml (its Metrics, its Knative Service, its Experiment) in `namespace`."""
    found: list[dict[str, Any]] = [d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d]
    for doc in found:
        doc["metadata"]["namespace"] = namespace
        if doc["kind"] == "Experiment":
            doc["spec"]["duration"]["intervalSeconds"] = interval
    return [Document(str(EXAMPLE), i, 1, doc) for i, doc in enumerate(found)]


def test_the_same_manifest_continues_and_another_is_refused(
    kube_client: client.ApiClient, routing_crds: list[str], kube_namespace: str
) -> None:
    store = KubernetesStore(kube_client)
    created = create(store, documents(kube_namespace, 3))
    lines: list[str] = []
    again = create(store, documents(kube_namespace, 3), lines.append)
    assert again == created
    assert lines == [f"{kube_namespace}/checkout-canary: in the store already, at iteration 0: "
                     "continuing it"]  # fmt: skip
    with pytest.raises(RunError, match="another spec"):
        create(store, documents(kube_namespace, 5))
    kept = store.get(EXPERIMENTS, kube_namespace, "checkout-canary")
    assert kept["spec"]["duration"]["intervalSeconds"] == 3
