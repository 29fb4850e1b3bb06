"""A namespace is a boundary at run time: an experiment in `default` must not move the traffic of
`team-b`'s Service (it did: weightObjRef.namespace took it to 0/100), nor apply or wait for
objects there, unless the operator allows it (ITER8_ALLOWED_REFERENCE_NAMESPACES). Each phase
that touches objects refuses on its own, whatever validation said when the experiment began: the
spec can change under a running experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from functions.runtime import Runtime
from iter8.demo.experiment import knative_service
from iter8.events import EventType
from iter8.lifecycle.status import is_true
from iter8.routing.objects import resource_for
from iter8.security.namespaces import REFERENCE_NAMESPACES_ENV
from iter8.store import EXPERIMENTS, NotFound
from iter8.store.resources import KNATIVE_SERVICES
from tests.functions.harness import (
    Clock,
    add_event,
    canary,
    deliver,
    experiment,
    make_runtime,
    setup,
)

OTHER = "team-b"
CONFIGMAPS = resource_for("v1", "ConfigMap")


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.delenv(REFERENCE_NAMESPACES_ENV, raising=False)
    runtime = make_runtime(tmp_path / "store.db", Clock())
    runtime.store.create(KNATIVE_SERVICES, knative_service("app", OTHER))
    return runtime


def routed_elsewhere(body: dict[str, Any], which: str = "candidates") -> dict[str, Any]:
    info = body["spec"]["versionInfo"]
    for version in [info["baseline"]] if which == "baseline" else info["candidates"]:
        version["weightObjRef"]["namespace"] = OTHER
    return body


def others_traffic(runtime: Runtime) -> list[int]:
    service = runtime.store.get(KNATIVE_SERVICES, OTHER, "app")
    return [entry["percent"] for entry in service["spec"]["traffic"]]


def failure(runtime: Runtime) -> tuple[str, str]:
    status = experiment(runtime).status
    assert status.stage == "Completed" and is_true(status, "Failed"), status
    failed = next(c for c in status.conditions or [] if c.type == "Failed")
    return failed.reason or "", failed.message or ""


def edit_spec(runtime: Runtime, edit: Any) -> None:
    """What `kubectl edit` does to a running experiment."""
    raw = runtime.store.get(EXPERIMENTS, "default", "exp")
    edit(raw)
    runtime.store.replace(EXPERIMENTS, raw)


def test_init_refuses_a_weight_object_in_another_namespace(runtime: Runtime) -> None:
    bad = routed_elsewhere(canary(), "baseline")
    setup(runtime, bad)
    reply = deliver(runtime, add_event(bad))
    assert reply is not None and reply["type"] == EventType.FAILED
    _, message = failure(runtime)
    assert "spec.versionInfo.baseline.weightObjRef.namespace" in message
    assert others_traffic(runtime) == [100, 0]


def test_route_refuses_a_weight_object_moved_to_another_namespace_mid_run(
    runtime: Runtime,
) -> None:
    setup(runtime, canary())
    initialized = deliver(runtime, add_event(canary()))
    analysed = deliver(runtime, initialized)
    assert analysed is not None and analysed["type"] == EventType.ANALYSIS_COMPLETED
    edit_spec(runtime, routed_elsewhere)
    reply = deliver(runtime, analysed)
    assert reply is not None and reply["type"] == EventType.FAILED
    reason, message = failure(runtime)
    assert reason == "WeightRedistributionFailed"
    assert "spec.versionInfo.candidates[0].weightObjRef.namespace: 'team-b'" in message
    assert others_traffic(runtime) == [100, 0]


def test_promote_refuses_a_weight_object_moved_to_another_namespace(runtime: Runtime) -> None:
    once = canary(duration={"intervalSeconds": 1, "iterationsPerLoop": 1, "maxLoops": 1})
    setup(runtime, once)
    concluded = deliver(runtime, deliver(runtime, add_event(once)))
    assert concluded is not None and concluded["type"] == EventType.CONCLUDED
    edit_spec(runtime, routed_elsewhere)
    reply = deliver(runtime, concluded)
    assert reply is not None and reply["type"] == EventType.FAILED
    _, message = failure(runtime)
    assert "spec.versionInfo.candidates[0].weightObjRef.namespace" in message
    assert others_traffic(runtime) == [100, 0]


def test_a_start_action_may_not_apply_objects_in_another_namespace(
    runtime: Runtime, tmp_path: Path
) -> None:
    """A manifest file (which validation cannot read: it is there only when the action runs)
    holding an object of another namespace."""
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "planted", "namespace": OTHER},
        "data": {"x": "1"},
    }
    manifest = tmp_path / "planted.yaml"
    manifest.write_text(yaml.safe_dump(configmap))
    body = canary()
    body["spec"]["strategy"]["actions"]["start"] = [
        {"task": "common/apply", "with": {"file": str(manifest)}}
    ]
    setup(runtime, body)
    reply = deliver(runtime, add_event(body))
    assert reply is not None and reply["type"] == EventType.FAILED
    _, message = failure(runtime)
    assert "with.file: ConfigMap.v1 team-b/planted is not in the experiment's" in message
    with pytest.raises(NotFound):
        runtime.store.get(CONFIGMAPS, OTHER, "planted")


def test_an_operator_may_allow_another_namespace(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REFERENCE_NAMESPACES_ENV, f"default:{OTHER}")
    body = routed_elsewhere(routed_elsewhere(canary()), "baseline")
    setup(runtime, body)
    initialized = deliver(runtime, add_event(body))
    assert initialized is not None and initialized["type"] == EventType.INITIALIZED
    assert deliver(runtime, deliver(runtime, initialized))["type"] == EventType.WEIGHTS_APPLIED
    assert others_traffic(runtime) != [100, 0]  # the allowed namespace's Service moved
