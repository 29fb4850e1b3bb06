"""Iter8 v2 manifests as users have them, through the phases in-process: `knative/init-experiment`
fills the versions from the Knative Service's traffic (no `versionInfo` in the manifest),
`common/bash` runs in the finish action as `run` does (an operator can turn it off), and an
unquoted YAML timestamp in a string field stays the string Kubernetes would see."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.runtime import Runtime
from iter8.api.experiment import Experiment
from iter8.api.metric import Metric
from iter8.api.references import resolve
from iter8.lifecycle.status import condition, is_true
from iter8.manifests import parse_documents
from iter8.store import EXPERIMENTS, METRICS
from iter8.store.resources import KNATIVE_SERVICES
from iter8.validation.rules import validate_experiment
from tests.functions.harness import Clock, add_event, deliver, experiment
from tests.functions.test_control import step

MANIFESTS = """
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: exp
  namespace: default
  annotations:
    deployed-at: 2021-06-01T10:00:00Z
spec:
  target: default/sample-app
  strategy:
    testingPattern: Canary
    actions:
      start:
      - task: knative/init-experiment
      finish:
      - task: common/bash
        with:
          script: echo "kept {{ .revision }}" > OUT/finished
  criteria:
    objectives:
    - metric: default/latency
      upperLimit: 200
  duration:
    intervalSeconds: 1
    iterationsPerLoop: 3
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: sample-app
  namespace: default
spec:
  traffic:
  - tag: current
    revisionName: sample-app-v1
    percent: 100
  - tag: candidate
    revisionName: sample-app-v2
    percent: 0
---
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata:
  name: latency
  namespace: default
spec:
  type: Gauge
  mock:
  - {name: current, level: "100"}
  - {name: candidate, level: "50"}
"""


def start(runtime: Runtime, clock: Clock, out: Path = Path("/nonexistent")) -> None:
    text = MANIFESTS.replace("OUT", str(out))
    documents = {d.kind: d.data for d in parse_documents(text, "v2.yaml")}
    runtime.store.create(KNATIVE_SERVICES, documents["Service"])
    runtime.store.create(METRICS, documents["Metric"])
    runtime.store.create(EXPERIMENTS, documents["Experiment"])
    deliver(runtime, add_event(documents["Experiment"]))
    for _ in range(8):
        step(runtime, clock)


def test_the_manifest_validates_as_written() -> None:
    documents = {d.kind: d.data for d in parse_documents(MANIFESTS, "v2.yaml")}
    exp = Experiment.from_wire(documents["Experiment"])
    assert exp.metadata.annotations == {"deployed-at": "2021-06-01T10:00:00Z"}  # a string
    catalog = {resolve("default/latency", "default"): Metric.from_wire(documents["Metric"])}
    assert validate_experiment(exp, catalog) == []


def test_knative_init_experiment_fills_the_versions_and_it_runs(
    runtime: Runtime, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ITER8_ENABLE_COMMON_BASH", raising=False)  # on by default, as run is
    start(runtime, clock, tmp_path)
    final = experiment(runtime)
    status = final.status
    assert status is not None and status.stage == "Completed", status
    assert not is_true(status, "Failed"), status.message
    assert [v.name for v in final.versions] == ["current", "candidate"]
    candidate = final.versions[1]
    assert candidate.weight_obj_ref is not None
    assert candidate.weight_obj_ref.field_path == ".spec.traffic[1].percent"
    split = [(w.name, w.value) for w in status.current_weight_distribution or []]
    assert split == [("current", 100), ("candidate", 0)]  # read through the filled references
    assert (tmp_path / "finished").read_text() == "kept sample-app-v1\n"  # common/bash ran


def test_common_bash_turned_off_by_an_operator_fails_with_a_clear_condition(
    runtime: Runtime, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITER8_ENABLE_COMMON_BASH", "false")
    start(runtime, clock)
    status = experiment(runtime).status
    assert status is not None and is_true(status, "Failed")
    failed = condition(status, "Failed")
    assert failed is not None and "ITER8_ENABLE_COMMON_BASH=true" in (failed.message or "")
    assert "with.script" in (failed.message or "")


def test_a_service_that_is_not_there_fails_naming_the_target(runtime: Runtime) -> None:
    documents = {d.kind: d.data for d in parse_documents(MANIFESTS, "v2.yaml")}
    runtime.store.create(METRICS, documents["Metric"])
    runtime.store.create(EXPERIMENTS, documents["Experiment"])
    deliver(runtime, add_event(documents["Experiment"]))
    status = experiment(runtime).status
    assert status is not None and is_true(status, "Failed")
    assert (status.message or "").startswith("InvalidExperiment: spec.target: no Knative Service")
