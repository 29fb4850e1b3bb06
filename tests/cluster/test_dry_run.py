"""Every manifest, as `kubectl apply` (Debian's 1.20.2) sends it to a real kube-apiserver 1.20 with
the real Knative CRDs installed: accepted with `--dry-run=server`, nothing pruned on the way, and
a broken one refused with the field named, so the check can fail."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from kubernetes import client

from iter8.cli.manifests import manifests
from iter8.kustomize import ObjectId, build, install_namespace, to_yaml
from iter8.store import AlreadyExists
from iter8.store.kubernetes import KubernetesStore
from iter8.store.resources import NAMESPACES
from tests.cluster.tools import (
    CONFIG,
    OVERLAY_NAMES,
    OVERLAYS,
    applied_items,
    by_id,
    debian_kubectl,
    dropped,
    dry_run,
    load_all,
    run,
)

pytestmark = pytest.mark.kube

Object = dict[str, Any]


def ensure_namespace(kube_client: client.ApiClient, name: str) -> None:
    """A dry run does not create the Namespace it holds, so the objects in it need it to exist."""
    with contextlib.suppress(AlreadyExists):
        KubernetesStore(kube_client).create(NAMESPACES, {"metadata": {"name": name}})


def assert_accepted(kube_config: str, objects: list[Object]) -> None:
    result = dry_run(debian_kubectl(), kube_config, to_yaml(objects))
    assert result.returncode == 0, result.stderr
    stored = by_id(applied_items(result))
    sent = by_id(objects)
    assert stored.keys() == sent.keys()
    problems = {str(key): dropped(obj, stored[key]) for key, obj in sent.items()}
    assert {key: p for key, p in problems.items() if p} == {}


def test_kubectl_apply_k_accepts_every_manifest(
    kube_config: str, kube_client: client.ApiClient, knative_crds: list[str]
) -> None:
    ensure_namespace(kube_client, "iter8-system")
    result = run(
        [
            debian_kubectl(),
            "--kubeconfig",
            kube_config,
            "apply",
            "--dry-run=server",
            "-o",
            "json",
            "-k",
            str(CONFIG),
        ]
    )
    assert result.returncode == 0, result.stderr
    sent = by_id(build())
    stored = by_id(applied_items(result))
    assert stored.keys() == sent.keys()
    assert {
        str(k): dropped(obj, stored[k]) for k, obj in sent.items() if dropped(obj, stored[k])
    } == {}


def test_iter8_manifests_with_every_parameter_is_accepted(
    kube_config: str, kube_namespace: str, knative_crds: list[str]
) -> None:
    result = CliRunner().invoke(
        manifests,
        [
            "--namespace",
            kube_namespace,
            "--image",
            "registry.example/iter8-serverless:9.9.9",
            "--broker-class",
            "Kafka",
        ],
    )
    assert result.exit_code == 0, result.output
    assert_accepted(kube_config, load_all(result.output))


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_every_overlay_is_accepted(
    overlay: str, kube_config: str, kube_client: client.ApiClient, knative_crds: list[str]
) -> None:
    objects = build(OVERLAYS / overlay)
    ensure_namespace(kube_client, install_namespace(objects))
    assert_accepted(kube_config, objects)


def _find(objects: list[Object], kind: str, name: str) -> Object:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _trigger_broker_is_a_number(objects: list[Object]) -> None:
    _find(objects, "Trigger", "iter8-route")["spec"]["broker"] = 5


def _trigger_retry_is_a_word(objects: list[Object]) -> None:
    _find(objects, "Trigger", "iter8-init")["spec"]["delivery"]["retry"] = "five"


def _service_concurrency_is_a_word(objects: list[Object]) -> None:
    spec = _find(objects, "Service", "iter8-analyze")["spec"]["template"]["spec"]
    spec["containerConcurrency"] = "four"


def _ping_schedule_is_a_list(objects: list[Object]) -> None:
    _find(objects, "PingSource", "iter8-tick")["spec"]["schedule"] = ["* * * * *"]


def _role_without_verbs(objects: list[Object]) -> None:
    del _find(objects, "ClusterRole", "iter8-route")["rules"][0]["verbs"]


BROKEN: dict[str, tuple[Callable[[list[Object]], None], str]] = {
    "trigger broker: 5": (_trigger_broker_is_a_number, "spec.broker"),
    "trigger retry: five": (_trigger_retry_is_a_word, "spec.delivery.retry"),
    "service containerConcurrency: four": (
        _service_concurrency_is_a_word,
        "spec.template.spec.containerConcurrency",
    ),
    "ping schedule: a list": (_ping_schedule_is_a_list, "spec.schedule"),
    "cluster role rule without verbs": (_role_without_verbs, "verbs"),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_a_broken_manifest_is_refused_naming_the_field(
    broken: str, kube_config: str, kube_client: client.ApiClient, knative_crds: list[str]
) -> None:
    """The first case sends the whole install with one Trigger broken, exactly as the check
    above does; the others send only the broken object, to keep the run short."""
    ensure_namespace(kube_client, "iter8-system")
    objects = copy.deepcopy(build())
    before = by_id(copy.deepcopy(objects))
    breaks, field = BROKEN[broken]
    breaks(objects)
    if broken != next(iter(BROKEN)):
        objects = [o for o in objects if o != before[ObjectId.of(o)]]
        assert len(objects) == 1
    result = dry_run(debian_kubectl(), kube_config, to_yaml(objects))
    assert result.returncode != 0, f"{broken} was accepted"
    assert field in result.stderr, result.stderr
