"""An invalid experiment through `iter8 run` (the console script): init refuses it, so it ends
Completed with `Failed=True`, reason `InvalidExperiment`, every wrong field named; the command
exits 1; nothing was routed and no finish action ran."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from iter8.store.resources import KNATIVE_SERVICES
from iter8.store.sqlite import SqliteStore
from tests.e2e.builders import experiment, knative_ref, knative_service, mock_metric, version
from tests.e2e.cases import split_of

ITER8 = str(Path(sys.executable).parent / "iter8")


def test_an_invalid_experiment_fails_naming_each_wrong_field(tmp_path: Path) -> None:
    finished = tmp_path / "finished"
    bad_ref = {**knative_ref("app", 2), "fieldPath": "spec.traffic[2].percent"}  # no leading "."
    exp = experiment(
        "invalid",
        "Canary",  # with two candidates: Canary allows exactly one
        [
            version("v1", knative_ref("app", 0)),
            version("v2", knative_ref("app", 1)),
            version("v3", bad_ref),
        ],
        criteria={"objectives": [{"metric": "default/latency", "upperLimit": 200}]},
        actions={"finish": [{"run": f"touch {finished}"}]},
    )
    objects = [
        knative_service("app", [100, 0, 0]),
        mock_metric("latency", {"v1": 1, "v2": 1, "v3": 1}),
        exp,
    ]
    run_file = tmp_path / "invalid.yaml"
    run_file.write_text(yaml.safe_dump_all(objects))
    store = tmp_path / "store.db"

    command = [ITER8, "run", str(run_file), "--store", str(store), "--output", "json", "--tick", "0.3", "--timeout", "60"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)

    assert done.returncode == 1, done.stderr
    status = json.loads(done.stdout)["status"]
    assert status["stage"] == "Completed"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Failed"]["status"] == "True"
    assert conditions["Failed"]["reason"] == "InvalidExperiment"
    assert conditions["Completed"]["status"] == "True"
    message = conditions["Failed"]["message"]
    assert "spec.versionInfo.candidates:" in message
    assert "spec.versionInfo.candidates[1].weightObjRef.fieldPath:" in message
    assert status["message"].startswith("InvalidExperiment: ")
    assert "InvalidExperiment" in done.stderr  # the progress line says why

    assert split_of(SqliteStore(store).get(KNATIVE_SERVICES, "default", "app")) == {
        "v1": 100,
        "v2": 0,
        "v3": 0,
    }
    assert not finished.exists(), "an invalid experiment runs no action"
    match = re.search(r"logs of the functions and the events in (\S+)", done.stderr)
    assert match, done.stderr
    events = (Path(match[1]) / "events.log").read_text().splitlines()
    assert [line.split(" — ")[0] for line in events] == [
        "default/invalid: experiment.failed, iteration 0"
    ]
