"""`iter8 pause|abort|approve|promote` end to end on the embedded stack: the command runs
as a subprocess against the store file, the functions (real processes, real HTTP through the
broker) act at their next step, and the sink receives each event."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from iter8.api.experiment import Experiment, ExperimentStatus
from iter8.events import ExperimentRef
from iter8.lifecycle.status import condition, is_true
from iter8.store import EXPERIMENTS
from iter8.store.resources import KNATIVE_SERVICES
from tests.e2e.builders import experiment, knative_ref, knative_service, mock_metric, version
from tests.e2e.harness import Harness

ITER8 = Path(sys.executable).parent / "iter8"


def iter8(harness: Harness, *args: str) -> subprocess.CompletedProcess[str]:
    store = str(harness.store.path)
    return subprocess.run(
        [str(ITER8), *args, "--store", store], capture_output=True, text=True, timeout=60
    )


def launch(harness: Harness, name: str, annotations: dict[str, str] | None = None) -> ExperimentRef:
    """A canary whose candidate wins (mocked latency 50 against ≤ 200) over 30 1-s iterations."""
    exp = experiment(
        name,
        "Canary",
        [version("v1", knative_ref(name, 0)), version("v2", knative_ref(name, 1))],
        criteria={
            "requestCount": f"default/{name}-requests",
            "objectives": [{"metric": f"default/{name}-latency", "upperLimit": 200}],
        },
        iterations=30,
    )
    exp["metadata"]["annotations"] = dict(annotations or {})
    return harness.submit(
        knative_service(name, [100, 0]),
        mock_metric(f"{name}-latency", {"v1": 100, "v2": 50}),
        mock_metric(f"{name}-requests", {"v1": 100, "v2": 100}, kind="Counter"),
        exp,
    )


def status(harness: Harness, ref: ExperimentRef) -> ExperimentStatus:
    raw = harness.get(EXPERIMENTS, ref.namespace, ref.name)
    return Experiment.from_wire(raw).status or ExperimentStatus()


def until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def split(harness: Harness, name: str) -> list[int]:
    service = harness.get(KNATIVE_SERVICES, "default", name)
    return [t["percent"] for t in service["spec"]["traffic"]]


def test_pause_then_abort(shared: Harness) -> None:
    ref = launch(shared, "ctl-pause")
    until(lambda: (status(shared, ref).completed_iterations or 0) >= 1, "an iteration")
    done = iter8(shared, "pause", "ctl-pause")
    assert done.returncode == 0, done.stderr
    until(lambda: is_true(status(shared, ref), "Paused"), "Paused condition")
    held = status(shared, ref).completed_iterations
    held_split = split(shared, "ctl-pause")
    time.sleep(3)  # three intervals: no iteration, no change of split
    assert status(shared, ref).completed_iterations == held
    assert split(shared, "ctl-pause") == held_split
    assert iter8(shared, "pause", "ctl-pause").stdout.strip().endswith("is paused already")
    described = subprocess.run(
        [str(ITER8), "describe", "ctl-pause", "--store", str(shared.store.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Paused" in described.stdout, described.stdout

    # abort while paused (resume runs in tests/e2e_kube/test_control.py and in-process: here an
    # iteration after it could already promote on a loaded machine, leaving nothing to abort)
    assert iter8(shared, "abort", "ctl-pause", "--reason", "pager went off").returncode == 0
    final = shared.wait(ref)
    assert final.status is not None and is_true(final.status, "Aborted")
    assert split(shared, "ctl-pause") == [100, 0]
    events = [s.event for s in shared.wait_for_event(ref, "experiment.aborted")]
    assert "experiment.paused" in events
    assert events[-1] == "experiment.aborted"

    again = iter8(shared, "abort", "ctl-pause")
    assert again.returncode == 2 and "has completed" in again.stderr


def test_the_approval_gate_then_approve(shared: Harness) -> None:
    ref = launch(shared, "ctl-gate", {"iter8.tools/approval": "required"})
    patch = {"spec": {"duration": {"iterationsPerLoop": 4}}}  # reach the gate sooner
    shared.store.patch(EXPERIMENTS, "default", "ctl-gate", patch)
    until(lambda: is_true(status(shared, ref), "AwaitingApproval"), "the gate", timeout=60)
    held = split(shared, "ctl-gate")
    time.sleep(2)
    assert status(shared, ref).stage == "Finishing" and split(shared, "ctl-gate") == held
    done = iter8(shared, "approve", "ctl-gate")
    assert done.returncode == 0, done.stderr
    final = shared.wait(ref)
    assert final.status is not None and final.status.stage == "Completed"
    assert split(shared, "ctl-gate") == [0, 100]
    gate = condition(final.status, "AwaitingApproval")
    assert gate is not None and gate.reason == "Approved"
    events = [s.event for s in shared.wait_for_event(ref, "experiment.promoted")]
    assert "experiment.awaitingapproval" in events and events[-1] == "experiment.promoted"


def test_promote_a_named_version(shared: Harness) -> None:
    ref = launch(shared, "ctl-promote")
    until(lambda: (status(shared, ref).completed_iterations or 0) >= 1, "an iteration")
    refused = iter8(shared, "promote", "ctl-promote", "v3")
    assert refused.returncode == 2 and "v1, v2" in refused.stderr
    assert iter8(shared, "promote", "default/ctl-promote", "v1").returncode == 0
    final = shared.wait(ref)
    assert final.status is not None and is_true(final.status, "PromotionForced")
    assert split(shared, "ctl-promote") == [100, 0]
    assert final.status.version_recommended_for_promotion == "v1"
