"""Promotion tasks: YAML through the store, Kustomize, Helm, and `common/exec`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from iter8.routing import resource_for
from iter8.store.resources import KNATIVE_SERVICES, NAMESPACES
from iter8.store.sqlite import SqliteStore
from iter8.tasks import TaskContext, run_action
from tests.routing.objects import knative_service
from tests.tasks.conftest import experiment, tasks

VARIABLES = {"sample-app-v2": {"promote": "candidate"}, "sample-app-v1": {"promote": "baseline"}}
CONFIGMAPS = resource_for("v1", "ConfigMap")


def configmap(name: str, value: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"v": value},
    }


def make_context(
    store: SqliteStore, tmp_path: Path, *, first: Path | None = None, only: Path | None = None
) -> TaskContext:
    """`first` goes ahead of the PATH; `only` replaces it."""
    env = dict(os.environ)
    if first is not None:
        env["PATH"] = f"{first}{os.pathsep}{env.get('PATH', os.defpath)}"
    if only is not None:
        only.mkdir(exist_ok=True)
        env["PATH"] = str(only)
    return TaskContext(
        experiment=experiment(variables=VARIABLES), store=store, work_dir=tmp_path, env=env
    )


def fake_program(directory: Path, name: str, stdout: str = "") -> Path:
    """A stand-in for `name` that records its arguments, one per line, in `<name>.args`."""
    directory.mkdir(exist_ok=True)
    (directory / f"{name}.out").write_text(stdout)
    program = directory / name
    program.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do printf "%s\\n" "$a"; done > "{directory}/{name}.args"\n'
        f'cat "{directory}/{name}.out"\n'
    )
    program.chmod(0o755)
    return program


# -- common/apply -------------------------------------------------------------------------


def test_apply_creates_each_document_then_replaces(store: SqliteStore, tmp_path: Path) -> None:
    manifest = yaml.safe_dump_all(
        [
            knative_service((0, 100)),
            configmap("settings", "1"),
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}},
        ]
    )
    spec = {"task": "common/apply", "with": {"manifest": manifest}}
    result = run_action(tasks(spec), make_context(store, tmp_path))
    assert result.ok, result.message
    assert result.outcomes[0].details["objects"] == [
        "created Service.serving.knative.dev/v1 default/sample-app",
        "created ConfigMap.v1 default/settings",
        "created Namespace.v1 prod",
    ]
    traffic = store.get(KNATIVE_SERVICES, "default", "sample-app")["spec"]["traffic"]
    assert [t["percent"] for t in traffic] == [0, 100]
    assert store.get(NAMESPACES, "", "prod")["metadata"]["name"] == "prod"

    again = [configmap("settings", "2"), knative_service((0, 100))]
    result = run_action(
        tasks({"task": "common/apply", "with": {"manifest": again}}), make_context(store, tmp_path)
    )
    assert result.outcomes[0].details["objects"] == [
        "replaced ConfigMap.v1 default/settings",
        "unchanged Service.serving.knative.dev/v1 default/sample-app",
    ]
    assert store.get(CONFIGMAPS, "default", "settings")["data"] == {"v": "2"}


def test_apply_the_promoted_versions_file(store: SqliteStore, tmp_path: Path) -> None:
    (tmp_path / "candidate.yaml").write_text(yaml.safe_dump(configmap("promoted", "v2")))
    (tmp_path / "baseline.yaml").write_text(yaml.safe_dump(configmap("promoted", "v1")))
    spec = {"task": "common/apply", "with": {"file": "@< .Vars.promote >@.yaml"}}
    assert run_action(tasks(spec), make_context(store, tmp_path)).ok
    assert store.get(CONFIGMAPS, "default", "promoted")["data"] == {"v": "v2"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "exactly one of `file` and `manifest`"),
        ({"file": "missing.yaml"}, "cannot read"),
        ({"manifest": "a: [1"}, "YAML syntax error"),
        ({"manifest": "kind: ConfigMap\nmetadata: {name: x}"}, "needs apiVersion, kind"),
    ],
)
def test_apply_refuses_bad_input(
    params: dict, message: str, store: SqliteStore, tmp_path: Path
) -> None:
    result = run_action(
        tasks({"task": "common/apply", "with": params}), make_context(store, tmp_path)
    )
    assert not result.ok and message in result.message


# -- kustomize/apply ----------------------------------------------------------------------


def kustomization(root: Path) -> Path:
    base = root / "overlay"
    base.mkdir()
    (base / "kustomization.yaml").write_text("resources:\n- cm.yaml\nnamePrefix: prod-\n")
    (base / "cm.yaml").write_text(yaml.safe_dump(configmap("settings", "from-kustomize")))
    return base


def test_kustomize_output_is_applied_through_the_store(store: SqliteStore, tmp_path: Path) -> None:
    if shutil.which("kustomize") is None and shutil.which("kubectl") is None:
        pytest.skip("neither kustomize nor kubectl is on PATH: the real-binary test needs one")
    kustomization(tmp_path)
    result = run_action(
        tasks({"task": "kustomize/apply", "with": {"dir": "overlay"}}),
        make_context(store, tmp_path),
    )
    assert result.ok, result.message
    assert store.get(CONFIGMAPS, "default", "prod-settings")["data"] == {"v": "from-kustomize"}


def test_kustomize_runs_as_an_argv_list(store: SqliteStore, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_program(bin_dir, "kustomize", stdout=yaml.safe_dump(configmap("built", "x")))
    spec = {"task": "kustomize/apply", "with": {"dir": "my dir; touch PWNED"}}
    result = run_action(tasks(spec), make_context(store, tmp_path, first=bin_dir))
    assert result.ok, result.message
    args = (bin_dir / "kustomize.args").read_text().splitlines()
    assert args == ["build", str(tmp_path / "my dir; touch PWNED")]
    assert not (tmp_path / "PWNED").exists()
    assert store.get(CONFIGMAPS, "default", "built")["data"] == {"v": "x"}


def test_kustomize_missing_is_a_clear_failure(store: SqliteStore, tmp_path: Path) -> None:
    spec = {"task": "kustomize/apply", "with": {"dir": "overlay"}}
    result = run_action(tasks(spec), make_context(store, tmp_path, only=tmp_path / "empty"))
    assert not result.ok and "kustomize not found on PATH" in result.message


# -- helm/upgrade -------------------------------------------------------------------------


def test_helm_upgrade_argv_with_the_promoted_values(store: SqliteStore, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_program(bin_dir, "helm", stdout="Release upgraded\n")
    spec = {
        "task": "helm/upgrade",
        "with": {
            "release": "sample-app",
            "chart": "./chart",
            "values": ["{{ .promote }}-values.yaml"],
            "set": {"image.tag": "@< .Vars.promote >@", "note": "a b; $(touch PWNED)"},
        },
    }
    result = run_action(tasks(spec), make_context(store, tmp_path, first=bin_dir))
    assert result.ok, result.message
    assert (bin_dir / "helm.args").read_text().splitlines() == [
        "upgrade",
        "sample-app",
        "./chart",
        "--namespace",
        "default",
        "--install",
        "--values",
        "candidate-values.yaml",
        "--set",
        "image.tag=candidate",
        "--set",
        "note=a b; $(touch PWNED)",
    ]
    assert not (tmp_path / "PWNED").exists()
    assert result.outcomes[0].output == "Release upgraded\n"


def test_helm_missing_is_a_clear_failure(store: SqliteStore, tmp_path: Path) -> None:
    spec = {"task": "helm/upgrade", "with": {"release": "r", "chart": "c"}}
    result = run_action(tasks(spec), make_context(store, tmp_path, only=tmp_path / "empty"))
    assert result.message == "task 0 (helm/upgrade) failed: helm not found on PATH"


# -- common/exec --------------------------------------------------------------------------


def test_exec_substitutes_the_recommended_versions_variables(
    store: SqliteStore, tmp_path: Path
) -> None:
    spec = {
        "task": "common/exec",
        "with": {"cmd": "printf", "args": ["%s|", "{{ .promote }}-values.yaml", "a; $(id)"]},
    }
    result = run_action(tasks(spec), make_context(store, tmp_path))
    assert result.ok, result.message
    assert result.outcomes[0].output == "candidate-values.yaml|a; $(id)|"


def test_exec_failures(store: SqliteStore, tmp_path: Path) -> None:
    context = make_context(store, tmp_path)
    missing = run_action(
        tasks({"task": "common/exec", "with": {"cmd": "no-such-program-x"}}), context
    )
    assert "no-such-program-x not found on PATH" in missing.message
    unknown = {"task": "common/exec", "with": {"cmd": "echo", "args": ["{{ .nothing }}"]}}
    assert "no variable 'nothing'" in run_action(tasks(unknown), context).message
    failing = {"task": "common/exec", "with": {"cmd": "sh", "args": ["-c", "exit 4"]}}
    assert "sh exited with status 4" in run_action(tasks(failing), context).message
