"""Fixtures of the tests on Knative Eventing's own code. Without `scripts/knative-eventing.sh
start` they skip saying so; with CI=true they fail instead."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.compat import knative_crd
from tests.knative.local import SCRIPT, Iter8OnKnative, Knative
from tests.kube import apply_crds, load_yaml

START_HINT = "run scripts/knative-eventing.sh start (after scripts/kube-apiserver.sh start)"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the Knative tests must not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def knative(kube_config: str) -> Knative:
    """The running Knative Eventing processes, with Knative's own CRDs in place."""
    found = Knative.from_script()
    if found is None:
        _unavailable(f"Knative Eventing's processes are not running: {START_HINT}")
    assert found is not None
    env = {**os.environ, "KUBECONFIG": kube_config}
    subprocess.run(["bash", str(SCRIPT), "crds"], env=env, check=True)
    return found


@pytest.fixture(scope="session")
def serving_crds(kube_client: client.ApiClient, iter8_crds: list[str]) -> list[str]:
    """Iter8's CRDs and Knative Serving's Service CRD (the functions' Services, the routed app)."""
    return [*iter8_crds, *apply_crds(kube_client, load_yaml(knative_crd("serving-service.yaml")))]


@pytest.fixture(scope="package")
def iter8_knative(
    knative: Knative,
    kube_config: str,
    kube_client: client.ApiClient,
    serving_crds: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Iter8OnKnative]:
    """eventing/config applied (test overlay), the functions and sinks serving, every Trigger
    and source Ready. For this package only: its ApiServerSource watches every namespace, so
    functions left serving would act on the Experiments that later tests create (a store
    contract test saw its object initialised under it)."""
    setup = Iter8OnKnative(knative, kube_client, kube_config, tmp_path_factory.mktemp("knative"))
    setup.apply_config()
    setup.publish_addresses()
    setup.wait_for_broker()
    try:
        setup.start_all()
        setup.wait_serving()
        setup.wait_for_triggers()
        setup.wait_for_sources()
        yield setup
    finally:
        setup.stop_all()
