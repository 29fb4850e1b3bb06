"""The manifests in eventing/config, read as a cluster reads them: they match Knative's CRDs, they
route every event type of DESIGN.md's table to its function, and mistakes are reported clearly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from eventing.broker import (
    DEFAULT_MANIFESTS,
    ConfigError,
    EmbeddedBroker,
    SubscriberMap,
    load,
    read_files,
)
from eventing.broker.config import Destination, Ref
from eventing.broker.resolve import resolve
from iter8.manifests import read_documents
from tests.eventing.test_broker_servers import (
    BROKER,
    Subscriber,
    event,
    manifests,
    post,
    running_broker,
    trigger,
)

CRDS = Path(__file__).resolve().parents[3] / "shared" / "crds" / "knative"
FUNCTIONS = ("iter8-init", "iter8-analyze", "iter8-route", "iter8-promote")
EXPERIMENT = {"kind": "Experiment"}
ROUTES = [
    ("dev.knative.apiserver.resource.add", EXPERIMENT, "iter8-init"),
    ("dev.knative.apiserver.ref.add", EXPERIMENT, "iter8-init"),
    ("dev.knative.apiserver.ref.add", {"kind": "Metric"}, None),
    ("dev.knative.apiserver.ref.update", EXPERIMENT, None),
    ("dev.knative.apiserver.resource.delete", EXPERIMENT, None),
    ("tools.iter8.initialization.due", {}, "iter8-init"),  # the tick re-drives a waiting one
    ("dev.knative.sources.ping", {}, "iter8-analyze"),
    ("tools.iter8.experiment.initialized", {}, "iter8-analyze"),
    ("tools.iter8.iteration.due", {"iteration": "2"}, "iter8-analyze"),
    ("tools.iter8.analysis.completed", {}, "iter8-route"),
    ("tools.iter8.experiment.concluded", {}, "iter8-promote"),
    ("tools.iter8.weights.applied", {}, None),
    ("tools.iter8.experiment.promoted", {}, None),
]


@pytest.fixture(scope="module")
def functions() -> Iterator[dict[str, Subscriber]]:
    servers = {name: Subscriber() for name in (*FUNCTIONS, "iter8-deadletter")}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.mark.parametrize(("type_", "extensions", "function"), ROUTES)
def test_each_design_event_reaches_its_function(
    functions: dict[str, Subscriber], type_: str, extensions: dict[str, str], function: str | None
) -> None:
    before = {name: s.count for name, s in functions.items()}
    urls = SubscriberMap({name: s.url for name, s in functions.items()})
    with EmbeddedBroker.from_files(DEFAULT_MANIFESTS, urls).serve() as running:
        sink = running.broker_url("iter8-system", "iter8")
        assert post(sink, event(type_, subject="default/canary", **extensions)).status_code == 202
    received = [name for name, s in functions.items() if s.count > before[name]]
    assert received == ([function] if function else [])


def test_the_manifests_declare_one_trigger_per_function_with_retries_and_a_sink() -> None:
    config = read_files(DEFAULT_MANIFESTS)
    [broker] = config.brokers
    assert (broker.namespace, broker.name, broker.declared) == ("iter8-system", "iter8", True)
    assert sorted(t.subscriber.ref.name for t in config.triggers if t.subscriber.ref) == sorted(
        FUNCTIONS
    )
    for trigger_spec in config.triggers:
        delivery = config.effective_delivery(trigger_spec)
        assert delivery.retry and delivery.backoff_policy and delivery.backoff_delay_ns
        assert delivery.dead_letter_sink is not None
        assert delivery.dead_letter_sink.ref == Ref(
            "Service", "iter8-deadletter", "iter8-system", "serving.knative.dev/v1"
        )


def _schema_problems(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Fields the CRD does not declare, or of the wrong type (what the API server would prune or
    refuse)."""
    kinds = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool}
    expected = schema.get("type")
    if expected in kinds and not isinstance(value, kinds[expected]):
        return [f"{path}: expected {expected}"]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        problems = []
        for key, item in value.items():
            if key in properties:
                problems += _schema_problems(item, properties[key], f"{path}.{key}")
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                problems.append(f"{path}.{key}: not in the CRD")
        return problems
    if isinstance(value, list) and "items" in schema:
        return [
            p
            for i, v in enumerate(value)
            for p in _schema_problems(v, schema["items"], f"{path}[{i}]")
        ]
    return []


@pytest.mark.parametrize("manifest", ["broker.yaml", "triggers.yaml"])
def test_the_manifests_fit_knatives_crds(manifest: str) -> None:
    if not CRDS.is_dir():
        pytest.skip(f"Knative CRDs not found at {CRDS}")
    schemas = {}
    for name in ("eventing-broker.yaml", "eventing-trigger.yaml"):
        crd = yaml.safe_load((CRDS / name).read_text())
        [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        schemas[crd["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    path = next(p for p in DEFAULT_MANIFESTS if p.name == manifest)
    for document in read_documents(path):
        spec_schema = schemas[document.kind]["properties"]["spec"]
        assert _schema_problems(document.data["spec"], spec_schema, "spec") == []
        # Knative's own webhook would also want these to be non-empty where present
        assert document.data["apiVersion"] == "eventing.knative.dev/v1"


def test_a_trigger_without_a_declared_broker_gets_knatives_default_delivery() -> None:
    config = load(manifests(trigger("t", "sub")))
    [broker] = config.brokers
    assert (broker.name, broker.declared, broker.delivery.retry) == ("default", False, 10)


def test_ref_with_relative_uri_and_plain_uri() -> None:
    urls = SubscriberMap({"svc": "http://127.0.0.1:9000/base/"})
    ref = Ref("Service", "svc", "ns")
    assert resolve(Destination(ref=ref, uri="hook"), urls) == "http://127.0.0.1:9000/base/hook"
    assert resolve(Destination(ref=ref, uri="/hook"), urls) == "http://127.0.0.1:9000/hook"
    assert resolve(Destination(uri="http://127.0.0.1:1/x"), urls) == "http://127.0.0.1:1/x"
    assert SubscriberMap({"ns/svc": "http://a", "svc": "http://b"})(ref) == "http://a"


BAD = """\
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: bad, namespace: test}
spec:
  subscriber: {}
  filters:
    - cesql: "type = 'x'"
  delivery:
    retry: -1
    backoffPolicy: quadratic
    backoffDelay: 5s
    timeout: soon
    format: xml
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {namespace: test}
spec:
  delivery: {deadLetterSink: {uri: relative/path}}
"""


def test_every_problem_is_reported_with_its_place() -> None:
    with pytest.raises(ConfigError) as caught:
        load(manifests(BAD))
    text = "\n".join(caught.value.problems)
    for expected in (
        "test.yaml:1: Trigger test/bad: spec.broker: is required",
        "spec.subscriber: needs a ref or a uri",
        "spec.filters[0].cesql: cesql filters are not supported",
        "spec.delivery.retry: must be a non-negative integer",
        "spec.delivery.backoffPolicy: must be one of linear, exponential",
        "spec.delivery.backoffDelay: '5s' is not an ISO-8601 duration",
        "spec.delivery.timeout: 'soon' is not an ISO-8601 duration",
        "spec.delivery.format: must be one of json, binary",
        "test.yaml:15: Broker test/?: metadata.name: is required",
        "spec.delivery.deadLetterSink.uri: must be an absolute URL",
    ):
        assert expected in text


def test_duplicates_are_refused() -> None:
    with pytest.raises(ConfigError, match="Trigger test/t is declared twice"):
        load(manifests(BROKER + trigger("t", "a") + trigger("t", "b")))


def test_unmapped_refs_are_refused_at_startup_all_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        EmbeddedBroker.from_files(DEFAULT_MANIFESTS, SubscriberMap({}))
    assert len(caught.value.problems) == len(FUNCTIONS)
    assert "--subscriber iter8-init=" in caught.value.problems[0]


def test_other_kinds_are_skipped() -> None:
    other = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n" + BROKER
    assert len(load(manifests(other)).brokers) == 1


def test_subscriber_map_parsing() -> None:
    assert SubscriberMap.parse(["a=http://x", "ns/b=http://y"]).urls == {
        "a": "http://x",
        "ns/b": "http://y",
    }
    with pytest.raises(ValueError, match="NAME=URL"):
        SubscriberMap.parse(["a"])


def test_broker_urls_of_a_running_broker(functions: dict[str, Subscriber]) -> None:
    with running_broker(BROKER + trigger("t", "sub"), {"sub": functions["iter8-init"]}) as b:
        assert b.brokers == [f"{b.url}/test/default"]
        assert b.broker_url("test", "default").startswith("http://127.0.0.1:")


# --- the command line -------------------------------------------------------------------------


def iter8_command() -> list[str]:
    """`iter8 broker`, run through its own module so other commands' imports do not matter."""
    code = "from iter8.cli.broker import broker; broker(prog_name='iter8 broker')"
    return [sys.executable, "-c", code]


def test_iter8_has_the_broker_command() -> None:
    import click

    from iter8.cli.main import cli

    command = cli.get_command(click.Context(cli), "broker")
    assert command is not None and command.name == "broker"


def test_iter8_broker_serves_until_terminated(functions: dict[str, Subscriber]) -> None:
    pairs = [f"--subscriber={name}={s.url}" for name, s in functions.items()]
    process = subprocess.Popen(
        [*iter8_command(), "--port", "0", *pairs],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/iter8-system/iter8)", first)
        assert match, first
        before = functions["iter8-route"].count
        response = post(match.group(1), event("tools.iter8.analysis.completed"))
        assert response.status_code == 202
        assert functions["iter8-route"].count == before + 1
        assert httpx.options(match.group(1)).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "stopped" in stderr


def test_iter8_broker_reports_bad_setups_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    result = subprocess.run(
        [*iter8_command(), "--triggers", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "spec.broker: is required" in result.stderr


def test_a_bare_iter8_broker_routes_to_the_functions_default_ports() -> None:
    """Without `--subscriber` the four functions and the dead-letter sink get their local
    ports (8081–8085); before, it exited 2 naming the missing ones one kind at a time."""
    process = subprocess.Popen(
        [*iter8_command(), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(5)]
        assert process.stderr is not None
        assert "serving on" in process.stderr.readline()  # its signal handlers are set
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    shown = "".join(lines)
    for name, port in (("init", 8081), ("analyze", 8082), ("route", 8083), ("promote", 8084)):
        assert f"iter8-{name} -> http://127.0.0.1:{port}" in shown, shown
