"""A stopped `iter8 run` is continued by the same command: the experiment stays in its store
file mid-way, and running the same manifest on the same store picks it up where it stood. A
different manifest under the same name is refused, and the stored experiment is untouched."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from iter8.embedded.run import RunError, create, first_difference
from iter8.manifests import read_documents
from iter8.store import EXPERIMENTS, METRICS, NotFound
from iter8.store.sqlite import SqliteStore

REPO = Path(__file__).resolve().parents[2]
ITER8 = Path(sys.executable).parent / "iter8"


def slower_canary(
    tmp_path: Path, seconds: int, name: str = "canary.yaml", mark: str | None = None
) -> Path:
    """examples/canary.yaml with longer intervals: time to stop it between two iterations;
    `mark`: an annotation's value on each of its Metrics."""
    documents = list(yaml.safe_load_all((REPO / "examples" / "canary.yaml").read_text()))
    for doc in documents:
        if doc and doc.get("kind") == "Experiment":
            doc["spec"]["duration"]["intervalSeconds"] = seconds
        if doc and doc.get("kind") == "Metric" and mark is not None:
            doc["metadata"].setdefault("annotations", {})["test/mark"] = mark
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(documents))
    return path


def stored_status(store_path: Path) -> dict:  # type: ignore[type-arg]
    store = SqliteStore(store_path)
    try:
        return store.get(EXPERIMENTS, "default", "checkout-canary").get("status") or {}
    except NotFound:  # the run has not created it yet
        return {}
    finally:
        store.close()


def test_the_same_command_continues_a_stopped_run(tmp_path: Path) -> None:
    manifest, store = slower_canary(tmp_path, 3), tmp_path / "run.db"
    command = [str(ITER8), "run", str(manifest), "--store", str(store), "--seed", "3"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not store.exists() or not stored_status(store).get("completedIterations"):
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "no iteration within 60 s"
            time.sleep(0.2)
    finally:
        first.send_signal(signal.SIGTERM)
        _, said = first.communicate(timeout=60)
    assert f"--store {store}` continues it where it stands" in said  # how to go on
    stopped = stored_status(store)
    assert stopped.get("stage") != "Completed", "finished before it was stopped: nothing to test"

    again = subprocess.run(
        [*command, "--output", "json", "--timeout", "120"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert again.returncode == 0, again.stderr
    assert "in the store already, at iteration" in again.stderr
    final = stored_status(store)
    assert final["stage"] == "Completed"
    assert final["versionRecommendedForPromotion"] == "checkout-v2"
    assert final["completedIterations"] >= stopped["completedIterations"]


def test_another_spec_under_the_same_name_is_refused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "run.db")
    try:
        created = create(store, read_documents(slower_canary(tmp_path, 3)))
        again = create(store, read_documents(slower_canary(tmp_path, 3, "same.yaml")))
        assert again == created  # the same experiment, continued: its uid kept
        with pytest.raises(
            RunError, match=r"another spec \(spec\.duration\.intervalSeconds differs\)"
        ):
            create(store, read_documents(slower_canary(tmp_path, 5, "changed.yaml", "new")))
        kept = store.get(EXPERIMENTS, "default", "checkout-canary")
        assert kept["spec"]["duration"]["intervalSeconds"] == 3
        assert kept["metadata"]["uid"] == created[0].uid
        metrics, _ = store.list(METRICS, "default")  # a refused file wrote nothing
        assert metrics and not any("test/mark" in str(m["metadata"]) for m in metrics)
    finally:
        store.close()


def test_a_completed_experiment_is_reported_as_it_ended(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "run.db")
    try:
        [ref] = create(store, read_documents(slower_canary(tmp_path, 3)))
        completed = {"status": {"stage": "Completed"}}
        store.patch(EXPERIMENTS, ref.namespace, ref.name, completed, subresource="status")
        lines: list[str] = []
        assert create(store, read_documents(slower_canary(tmp_path, 3)), lines.append) == [ref]
        assert lines == ["default/checkout-canary: in the store already, completed"]
    finally:
        store.close()


def test_a_refusal_names_the_first_field_that_changed() -> None:
    old = {"criteria": {"objectives": [{"metric": "a"}, {"metric": "b", "upperLimit": 1}]}}
    new = {"criteria": {"objectives": [{"metric": "a"}, {"metric": "b", "upperLimit": 2}]}}
    assert first_difference(old, new, "spec") == "spec.criteria.objectives[1].upperLimit"
    assert first_difference({"a": [1]}, {"a": [1, 2]}, "spec") == "spec.a"  # lengths differ
    assert first_difference({"a": 1}, {"b": 1}, "spec") == "spec.a"  # a key gone


def test_a_stopped_run_without_a_store_file_says_how_to_keep_one(tmp_path: Path) -> None:
    command = [str(ITER8), "run", str(slower_canary(tmp_path, 3)), "--seed", "3"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert run.stderr is not None
    for line in run.stderr:  # the stack is up once its log directory is announced
        if "logs of the functions" in line:
            break
    run.send_signal(signal.SIGTERM)
    _, said = run.communicate(timeout=60)
    assert run.returncode == 143
    assert "temporary store, gone with this run; with --store FILE" in said
