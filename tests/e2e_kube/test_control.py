"""The control commands against the real API server: `iter8 run --kubeconfig` drives an
experiment that asks for approval; `iter8 pause`, `resume` and `approve --kubeconfig` write their
annotations on the Experiment there, and the functions (run by `iter8 run`, talking to the API
server) honour them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from iter8.store import EXPERIMENTS, NotFound
from iter8.store.kubernetes import KubernetesStore
from iter8.store.resources import KNATIVE_SERVICES
from tests.e2e.builders import experiment, knative_ref, knative_service, mock_metric, version

pytestmark = [pytest.mark.kube]

ITER8 = Path(sys.executable).parent / "iter8"


def conditions(store: KubernetesStore, namespace: str) -> dict[str, str]:
    try:
        status = store.get(EXPERIMENTS, namespace, "app").get("status") or {}
    except NotFound:  # not created yet
        return {}
    return {c["type"]: c["status"] for c in status.get("conditions") or []}


def until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def test_pause_resume_and_approve_on_the_api_server(
    kube_config: str,
    kube_client: client.ApiClient,
    kube_namespace: str,
    routing_crds: list[str],
    tmp_path: Path,
) -> None:
    ns = kube_namespace
    exp = experiment(
        "app",
        "Canary",
        [version("v1", knative_ref("app", 0, ns)), version("v2", knative_ref("app", 1, ns))],
        criteria={
            "requestCount": f"{ns}/requests",
            "objectives": [{"metric": f"{ns}/latency", "upperLimit": 200}],
        },
        iterations=8,
        namespace=ns,
    )
    exp["metadata"]["annotations"] = {"iter8.tools/approval": "required"}
    objects: list[dict[str, Any]] = [
        knative_service("app", [100, 0], ns),
        mock_metric("latency", {"v1": 100, "v2": 50}, namespace=ns),
        mock_metric("requests", {"v1": 100, "v2": 100}, kind="Counter", namespace=ns),
        exp,
    ]
    run_file = tmp_path / "run.yaml"
    run_file.write_text(yaml.safe_dump_all(objects))
    command = [
        str(ITER8), "run", str(run_file), "--kubeconfig", kube_config, "--namespace", ns,
        "--seed", "7", "--timeout", "120", "--tick", "0.3",
    ]  # fmt: skip
    env = {**os.environ, "ITER8_NAMESPACE": ns}
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = KubernetesStore(kube_client)

    def control(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ITER8), *args, "--kubeconfig", kube_config],
            capture_output=True,
            text=True,
            timeout=60,
        )

    try:
        until(lambda: conditions(store, ns).get("TargetAcquired") == "True", "started")
        assert control("pause", f"{ns}/app").returncode == 0
        until(lambda: conditions(store, ns).get("Paused") == "True", "the Paused condition")
        held = (store.get(EXPERIMENTS, ns, "app")["status"] or {}).get("completedIterations")
        time.sleep(2)
        assert store.get(EXPERIMENTS, ns, "app")["status"].get("completedIterations") == held
        assert control("resume", f"{ns}/app").returncode == 0
        until(lambda: conditions(store, ns).get("AwaitingApproval") == "True", "the gate")
        assert store.get(EXPERIMENTS, ns, "app")["status"]["stage"] == "Finishing"
        approved = control("approve", f"{ns}/app")
        assert approved.returncode == 0, approved.stderr
        _, stderr = run.communicate(timeout=90)
    finally:
        if run.poll() is None:
            run.terminate()
            run.communicate(timeout=30)
    assert run.returncode == 0, stderr.decode()
    final = store.get(EXPERIMENTS, ns, "app")["status"]
    assert final["stage"] == "Completed"
    assert conditions(store, ns)["AwaitingApproval"] == "False"
    traffic = store.get(KNATIVE_SERVICES, ns, "app")["spec"]["traffic"]
    assert [t["percent"] for t in traffic] == [0, 100]
    # `list` and `get` read the same from the API server
    listed = control("list", "-n", ns)
    assert listed.returncode == 0, listed.stderr
    columns = listed.stdout.splitlines()[1].split()
    assert columns[:4] == [ns, "app", "Canary", "Completed"] and columns[5] == "v2", columns
    got = control("get", f"{ns}/app", "-o", "json")
    assert json.loads(got.stdout)["status"]["stage"] == "Completed"
