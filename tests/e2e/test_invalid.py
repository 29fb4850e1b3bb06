"""An invalid experiment through `iter8 run` (the console script): it is validated before anything
starts, so the command exits 2 with one `FILE: field.path: problem` line per wrong field, and
nothing is applied, routed or run. (The init function's own refusal, for experiments created
some other way, is tested in tests/functions.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from iter8.store.resources import KNATIVE_SERVICES
from iter8.store.sqlite import SqliteStore
from tests.e2e.builders import experiment, knative_ref, knative_service, mock_metric, version

ITER8 = str(Path(sys.executable).parent / "iter8")


def _run(tmp_path: Path, objects: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    run_file = tmp_path / "invalid.yaml"
    run_file.write_text(yaml.safe_dump_all(objects))
    command = [ITER8, "run", str(run_file), "--store", str(tmp_path / "store.db"), "--tick", "0.3", "--timeout", "60"]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_an_invalid_experiment_exits_2_naming_each_wrong_field(tmp_path: Path) -> None:
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
    done = _run(tmp_path, objects)

    assert done.returncode == 2, done.stderr
    run_file = tmp_path / "invalid.yaml"
    lines = done.stderr.splitlines()
    assert any(
        line.startswith(
            f"{run_file}: spec.versionInfo.candidates: a Canary experiment needs exactly 1 "
            "candidate(s), found 2"
        )
        for line in lines
    )
    assert any(
        line.startswith(f"{run_file}: spec.versionInfo.candidates[1].weightObjRef.fieldPath: ")
        for line in lines
    )
    assert "logs of the functions" not in done.stderr, "nothing starts"
    assert "Traceback" not in done.stderr
    assert SqliteStore(tmp_path / "store.db").list(KNATIVE_SERVICES)[0] == [], "nothing applied"
    assert not finished.exists(), "an invalid experiment runs no action"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"duration": {"intervalSeconds": -5}},
            "spec.duration.intervalSeconds: must be at least 1",
        ),
        (
            {"duration": {"intervalSeconds": 10**99}},
            "spec.duration.intervalSeconds: must be at most 86400",
        ),
        ({"name": "Not_DNS"}, "metadata.name: 'Not_DNS' is not a lowercase RFC 1123 subdomain"),
    ],
    ids=["negative interval", "interval of 10^99", "name not DNS-1123"],
)
def test_values_that_would_stall_or_crash_a_run_exit_2(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    exp = experiment("exp", "Conformance", [version("v1", knative_ref("app", 0))])
    if "name" in change:
        exp["metadata"]["name"] = change["name"]
    else:
        exp["spec"].update(change)
    done = _run(tmp_path, [knative_service("app", [100]), exp])
    assert (done.returncode, "Traceback" in done.stderr) == (2, False), done.stderr
    assert done.stderr.startswith(f"{tmp_path / 'invalid.yaml'}: {expected}")


def test_other_objects_with_names_a_store_refuses_exit_2(tmp_path: Path) -> None:
    """A store refuses names that are not DNS-1123 (as the API server does); say so up front."""
    exp = experiment("exp", "Conformance", [version("v1", knative_ref("app", 0))])
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "Bad_Secret"}}
    done = _run(tmp_path, [knative_service("app", [100]), secret, exp])
    assert (done.returncode, "Traceback" in done.stderr) == (2, False), done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"{tmp_path / 'invalid.yaml'}: metadata.name: 'Bad_Secret' is not")
    assert line.endswith("(in Secret Bad_Secret, line 15)")


def test_a_billion_laughs_run_file_exits_2_at_once(tmp_path: Path) -> None:
    from tests.validation.test_loader_bounds import billion_laughs

    exp = experiment("exp", "Conformance", [version("v1", knative_ref("app", 0))])
    run_file = tmp_path / "invalid.yaml"
    run_file.write_text(yaml.safe_dump(exp) + "unknown:\n" + billion_laughs("  "))
    command = [ITER8, "run", str(run_file), "--store", str(tmp_path / "store.db")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"{run_file}: line 1: YAML refused: aliases expand")


@pytest.mark.parametrize(
    "content",
    [b"not a database " * 100, b"SQLite format 3\x00" + b"\x00" * 84],
    ids=["text", "damaged-sqlite-header"],
)
def test_a_store_file_that_is_not_a_store_exits_2_and_is_left_as_it_was(
    tmp_path: Path, content: bytes
) -> None:
    """`--store` naming some other file: say so, naming it, and never write tables into it."""
    exp = experiment("exp", "Conformance", [version("v1", knative_ref("app", 0))])
    run_file, store = tmp_path / "run.yaml", tmp_path / "other.db"
    run_file.write_text(yaml.safe_dump_all([knative_service("app", [100]), exp]))
    store.write_bytes(content)
    command = [ITER8, "run", str(run_file), "--store", str(store), "--timeout", "30"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (done.returncode, "Traceback" in done.stderr) == (2, False), done.stderr
    assert done.stderr.startswith(f"{store}: "), done.stderr
    assert store.read_bytes() == content
