"""`common/bash` (Iter8 v2's handler task): off unless an operator enables it; when on, a real
bash with `{{ .name }}` passed as data, a minimal environment, a deadline and capped output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iter8.api.experiment import Experiment
from iter8.store.sqlite import SqliteStore
from iter8.tasks import TaskContext, TaskFailed
from iter8.tasks.library.common_bash import ENABLE, MAX_OUTPUT_BYTES, TASK


def context(tmp_path: Path, enabled: bool, name: str = "v2") -> TaskContext:
    experiment = Experiment.from_wire(
        {
            "metadata": {"name": "exp", "namespace": "default"},
            "spec": {
                "target": "default/app",
                "strategy": {"testingPattern": "Canary"},
                "versionInfo": {
                    "baseline": {"name": "v1"},
                    "candidates": [{"name": name}],
                },
            },
            "status": {"versionRecommendedForPromotion": name},
        }
    )
    env = {"PATH": "/usr/bin:/bin", "AWS_SECRET_ACCESS_KEY": "hunter2"}
    if not enabled:
        env[ENABLE] = "false"
    return TaskContext(
        experiment=experiment,
        store=SqliteStore(tmp_path / "s.db"),
        action="finish",
        work_dir=tmp_path / "work",
        env=env,
        timeout=10,
    )


def run(tmp_path: Path, script: str, enabled: bool = True, **kw: Any) -> str:
    return TASK.run({"script": script, **kw}, context(tmp_path, enabled)).output


def test_on_by_default_as_run_is(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    TASK.run({"script": f"touch {marker}"}, context(tmp_path, True))
    assert marker.exists()


def test_an_operator_turns_it_off_and_the_failure_names_the_field_and_setting(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(TaskFailed) as failed:
        run(tmp_path, f"touch {marker}", enabled=False)
    assert "with.script" in failed.value.message and f"{ENABLE}=true" in failed.value.message
    assert not marker.exists()


def test_runs_with_the_recommended_version_as_data(tmp_path: Path) -> None:
    assert run(tmp_path, "echo promote {{ .name }}").strip() == "promote v2"


def test_a_crafted_value_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    ctx = context(tmp_path, True, name=f"v2;touch {marker}")
    output = TASK.run({"script": "echo {{ .name }}"}, ctx).output
    assert output.strip() == f"v2;touch {marker}" and not marker.exists()


def test_the_environment_is_minimal(tmp_path: Path) -> None:
    output = run(tmp_path, "env")
    assert "hunter2" not in output and ENABLE not in output
    assert "EXPERIMENT_NAME=exp" in output


def test_a_deadline_and_an_output_cap(tmp_path: Path) -> None:
    with pytest.raises(TaskFailed, match="did not finish within 1s"):
        run(tmp_path, "sleep 30", timeout=1)
    with pytest.raises(TaskFailed, match=f"more than {MAX_OUTPUT_BYTES} bytes"):
        run(tmp_path, "yes iter8")
