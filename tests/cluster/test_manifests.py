"""The cluster manifests without a server: what they hold, the rules Knative's webhooks apply
(which a bare API server cannot), `iter8 manifests` and its parameters, and the Python rendering
against `kubectl kustomize` (kustomize v2.0.3 in kubectl 1.20, and v5 when a newer kubectl is on
PATH)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from eventing.broker.durations import parse_duration
from iter8 import __version__
from iter8.cli.manifests import manifests
from iter8.kustomize import (
    KustomizeError,
    ObjectId,
    build,
    relocate,
    render,
    set_image,
    split_image,
    to_yaml,
)
from tests.cluster.tools import (
    CONFIG,
    OVERLAY_NAMES,
    OVERLAYS,
    by_id,
    debian_kubectl,
    kustomize,
    load_all,
    other_kubectl,
)

FUNCTIONS = ("init", "analyze", "route", "promote")
SINKS = ("iter8-notifier", "iter8-deadletter")
RESERVED_ENV = {"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"}  # Knative refuses them


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return build()


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def knative_services(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: o
        for name, o in of_kind(objects, "Service").items()
        if o["apiVersion"] == "serving.knative.dev/v1"
    }


def container(service: dict[str, Any]) -> dict[str, Any]:
    [only] = service["spec"]["template"]["spec"]["containers"]
    return dict(only)


def env(service: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(service).get("env") or []}


def test_the_kustomization_lists_every_manifest_in_the_directory() -> None:
    listed = set(yaml.safe_load((CONFIG / "kustomization.yaml").read_text())["resources"])
    on_disk = {
        str(p.relative_to(CONFIG)) for p in CONFIG.rglob("*.yaml") if p.name != "kustomization.yaml"
    }
    assert listed == on_disk


def test_the_base_holds_every_part_of_the_install(objects: list[dict[str, Any]]) -> None:
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == sorted(
        [
            "Namespace",
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "Broker",
            "Trigger",
            "ApiServerSource",
            "PingSource",
            "SinkBinding",
        ]
    )
    assert set(of_kind(objects, "CustomResourceDefinition")) == {
        "experiments.iter8.tools",
        "metrics.iter8.tools",
    }
    assert set(knative_services(objects)) == {f"iter8-{f}" for f in FUNCTIONS} | set(SINKS)
    assert set(of_kind(objects, "Namespace")) == {"iter8-system"}
    for obj in objects:
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "iter8", ObjectId.of(obj)
        cluster_scoped = (
            "Namespace",
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRoleBinding",
        )
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"]["namespace"] == "iter8-system", ObjectId.of(obj)


def test_every_destination_is_a_service_of_the_install(objects: list[dict[str, Any]]) -> None:
    services = knative_services(objects)
    [broker] = of_kind(objects, "Broker").values()
    assert broker["spec"]["delivery"]["deadLetterSink"]["ref"]["name"] == "iter8-deadletter"
    triggers = of_kind(objects, "Trigger")
    assert set(triggers) == {f"iter8-{f}" for f in FUNCTIONS} | {"iter8-notifications"}
    for name, trigger in triggers.items():
        spec = trigger["spec"]
        assert spec["broker"] == "iter8", name
        ref = spec["subscriber"]["ref"]  # a Trigger without a subscriber: the webhook refuses it
        assert ref["apiVersion"] == "serving.knative.dev/v1" and ref["kind"] == "Service"
        assert ref["name"] in services, name
        dead_letter = (spec.get("delivery") or {}).get("deadLetterSink")
        if dead_letter:
            assert dead_letter["ref"]["name"] == "iter8-deadletter"
        assert "namespace" not in ref  # the Trigger's own namespace, wherever it is installed


def test_services_follow_the_knative_webhook_rules(objects: list[dict[str, Any]]) -> None:
    """What Knative Serving's admission webhook checks, which no CRD schema does."""
    for name, service in knative_services(objects).items():
        template = service["spec"]["template"]
        spec = template["spec"]
        box = container(service)
        assert not RESERVED_ENV & set(env(service)), f"{name}: Knative sets these itself"
        [port] = box["ports"]
        assert port["name"] in ("http1", "h2c") and port["containerPort"] == 8080
        assert env(service)["HOST"] == "0.0.0.0"
        assert env(service)["THREADS"] == str(spec["containerConcurrency"])
        assert 0 < spec["timeoutSeconds"] <= 600
        assert box["image"] == f"iter8-serverless:{__version__}"
        assert box["resources"]["requests"]["cpu"] and box["resources"]["requests"]["memory"]
        assert box["resources"]["limits"]["memory"]
        security = box["securityContext"]
        assert security["runAsNonRoot"] and not security["allowPrivilegeEscalation"]
        assert security["capabilities"]["drop"] == ["ALL"]
        annotations = template["metadata"]["annotations"]
        assert int(annotations["autoscaling.knative.dev/min-scale"]) <= int(
            annotations["autoscaling.knative.dev/max-scale"]
        )
        assert service["metadata"]["labels"]["networking.knative.dev/visibility"] == (
            "cluster-local"
        )


def test_each_function_runs_as_its_own_account_with_its_settings(
    objects: list[dict[str, Any]],
) -> None:
    services = knative_services(objects)
    triggers = of_kind(objects, "Trigger")
    for function in FUNCTIONS:
        service = services[f"iter8-{function}"]
        spec = service["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == f"iter8-{function}"
        assert env(service) | {"THREADS": "x"} == {
            "ITER8_FUNCTION": function,
            "HOST": "0.0.0.0",
            "ITER8_STORE": "kubernetes",
            "ITER8_NAMESPACE": "iter8-system",
            "THREADS": "x",
        }
        timeout = parse_duration(triggers[f"iter8-{function}"]["spec"]["delivery"]["timeout"])
        assert spec["timeoutSeconds"] * 10**9 >= timeout, "Knative would cut the request first"
    for sink in SINKS:
        spec = services[sink]["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == "iter8-sink"
        assert spec["automountServiceAccountToken"] is False
        assert env(services[sink])["ITER8_FUNCTION"] == "notifier"
    accounts = of_kind(objects, "ServiceAccount")
    assert set(accounts) == {f"iter8-{f}" for f in FUNCTIONS} | {
        "iter8-apiserversource",
        "iter8-sink",
    }
    assert accounts["iter8-sink"]["automountServiceAccountToken"] is False


def test_the_sources_feed_the_broker(objects: list[dict[str, Any]]) -> None:
    broker = {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "iter8"}
    [source] = of_kind(objects, "ApiServerSource").values()
    assert source["spec"]["mode"] == "Reference"
    assert source["spec"]["serviceAccountName"] == "iter8-apiserversource"
    assert source["spec"]["resources"] == [
        {"apiVersion": "iter8.tools/v2alpha2", "kind": "Experiment"}
    ]
    assert source["spec"]["namespaceSelector"] == {}  # every namespace
    [ping] = of_kind(objects, "PingSource").values()
    # five fields: once a minute, the finest schedule every Knative release accepts
    assert re.fullmatch(r"\S+( \S+){4}", ping["spec"]["schedule"])
    [binding] = of_kind(objects, "SinkBinding").values()
    assert binding["spec"]["subject"] == {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "name": "iter8-analyze",
    }
    for obj in (source, ping, binding):
        assert obj["spec"]["sink"]["ref"] == broker


def test_the_namespace_parameter_moves_everything(objects: list[dict[str, Any]]) -> None:
    moved = relocate(objects, "iter8-elsewhere")
    text = to_yaml(moved)
    assert "iter8-system" not in text
    assert of_kind(moved, "Namespace").keys() == {"iter8-elsewhere"}
    for binding in [*of_kind(moved, "ClusterRoleBinding").values()]:
        assert binding["subjects"][0]["namespace"] == "iter8-elsewhere"
    for function in FUNCTIONS:
        assert env(knative_services(moved)[f"iter8-{function}"])["ITER8_NAMESPACE"] == (
            "iter8-elsewhere"
        )
    assert "iter8-system" in to_yaml(objects)  # the input is left alone


def test_the_namespace_flag_and_the_namespace_overlay_agree() -> None:
    overlay = by_id(build(OVERLAYS / "namespace"))
    flag = by_id(render(namespace="iter8"))
    assert overlay == flag


def test_the_image_parameter_reaches_every_container(objects: list[dict[str, Any]]) -> None:
    image = "registry.example:5000/team/iter8-serverless@sha256:" + "a" * 64
    changed = set_image(objects, image)
    images = [container(s)["image"] for s in knative_services(changed).values()]
    assert images == [image] * 6
    with pytest.raises(KustomizeError, match="no container"):
        set_image(list(of_kind(objects, "Broker").values()), image)


@pytest.mark.parametrize(
    ("reference", "parts"),
    [
        ("iter8-serverless", ("iter8-serverless", "")),
        ("iter8-serverless:0.1.0", ("iter8-serverless", ":0.1.0")),
        ("localhost:5000/iter8-serverless", ("localhost:5000/iter8-serverless", "")),
        ("reg.io:443/a/b:1@sha256:ff", ("reg.io:443/a/b:1", "@sha256:ff")),
    ],
)
def test_image_references_split_like_kustomize(reference: str, parts: tuple[str, str]) -> None:
    assert split_image(reference) == parts


def test_the_cli_prints_every_object_with_the_parameters_applied() -> None:
    result = CliRunner().invoke(
        manifests,
        ["--namespace", "ns1", "--image", "reg.example/i8:2", "--broker-class", "Kafka"],
    )
    assert result.exit_code == 0, result.output
    printed = load_all(result.output)
    assert len(printed) == len(build())
    [broker] = of_kind(printed, "Broker").values()
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "Kafka"
    assert {container(s)["image"] for s in knative_services(printed).values()} == {
        "reg.example/i8:2"
    }
    assert {o["metadata"].get("namespace") for o in printed} == {None, "ns1"}


@pytest.mark.parametrize("bad", ["Iter8", "a_b", "-a", "x" * 64])
def test_the_cli_refuses_a_namespace_that_cannot_exist(bad: str) -> None:
    result = CliRunner().invoke(manifests, ["--namespace", bad])
    assert result.exit_code == 2 and "namespace" in result.output


def _kustomization(tmp_path: Path, spec: dict[str, Any], **files: Any) -> Path:
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(spec))
    for name, content in files.items():
        (tmp_path / name).write_text(yaml.safe_dump_all(content))
    return tmp_path


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    directory = _kustomization(tmp_path, {"resources": [], "commonLabels": {"a": "b"}})
    with pytest.raises(KustomizeError, match="commonLabels"):
        build(directory)
    result = CliRunner().invoke(manifests, ["--kustomization", str(directory)])
    assert result.exit_code == 2 and "commonLabels" in result.output


def test_a_patch_that_misses_or_fails_is_an_error(tmp_path: Path) -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    target = {"version": "v1", "kind": "ConfigMap", "name": "nope"}
    directory = _kustomization(
        tmp_path,
        {"resources": ["c.yaml"], "patchesJson6902": [{"target": target, "path": "p.yaml"}]},
        **{"c.yaml": [config], "p.yaml": [[{"op": "test", "path": "/data/x", "value": "1"}]]},
    )
    with pytest.raises(KustomizeError, match="matches 0 objects"):
        build(directory)
    target["name"] = "c"
    (directory / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {"resources": ["c.yaml"], "patchesJson6902": [{"target": target, "path": "p.yaml"}]}
        )
    )
    with pytest.raises(KustomizeError, match=r"p\.yaml"):
        build(directory)


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_every_overlay_renders(overlay: str) -> None:
    rendered = build(OVERLAYS / overlay)
    assert len(rendered) >= len(build())


KUSTOMIZATIONS = [CONFIG, *(OVERLAYS / name for name in OVERLAY_NAMES)]


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_python_and_kubectl_1_20_kustomize_render_the_same_objects(directory: Path) -> None:
    assert by_id(build(directory)) == by_id(kustomize(debian_kubectl(), directory))


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_python_and_kustomize_v5_render_the_same_objects(directory: Path) -> None:
    kubectl = other_kubectl()
    if kubectl is None:
        pytest.skip("no kubectl with kustomize v5 on PATH")
    assert by_id(build(directory)) == by_id(kustomize(kubectl, directory))
