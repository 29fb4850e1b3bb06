"""A stopped `iter8 run` is continued by the same command: the experiment stays in its store
file mid-way, and running the same manifest on the same store picks it up where it stood. A
different manifest under the same name is refused, and the stored experiment is untouched."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
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


def started(tmp_path: Path) -> tuple[Path, list[str], subprocess.Popen[str]]:
    """A slower canary run on a store file: the store, the command, the running process."""
    manifest, store = slower_canary(tmp_path, 3), tmp_path / "run.db"
    command = [str(ITER8), "run", str(manifest), "--store", str(store), "--seed", "3"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return store, command, run


def until_an_iteration(run: subprocess.Popen[str], store: Path) -> None:
    """Wait until the run has completed an iteration (its store file says so)."""
    deadline = time.monotonic() + 60
    while not store.exists() or not stored_status(store).get("completedIterations"):
        assert run.poll() is None, run.stderr.read() if run.stderr else ""
        assert time.monotonic() < deadline, "no iteration within 60 s"
        time.sleep(0.2)


def test_the_same_command_continues_a_stopped_run(tmp_path: Path) -> None:
    store, command, first = started(tmp_path)
    try:
        until_an_iteration(first, store)
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


def test_a_second_run_on_a_driven_store_is_refused_naming_the_first(tmp_path: Path) -> None:
    """Two runs on one store would drive its experiments twice (every notification twice)."""
    store, command, first = started(tmp_path)
    try:
        until_an_iteration(first, store)
        before = stored_status(store)
        second = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert f"another iter8 run (pid {first.pid}) is driving" in second.stderr
        assert "continuing it" not in second.stderr
        assert stored_status(store).get("initTime") == before.get("initTime")
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    again = subprocess.run(
        [*command, "--timeout", "120"], capture_output=True, text=True, timeout=180
    )  # the first one gone, its lock went with it
    assert again.returncode == 0, again.stderr
    assert stored_status(store)["stage"] == "Completed"


def test_a_claim_left_by_a_killed_run_is_cleared_not_waited_out(tmp_path: Path) -> None:
    """A run killed while a phase was at work leaves its claim (`status.inProgress`); the tick
    would wait it out for two minutes. Under the store's run lock nobody else can be at work,
    so the next run clears it at once."""
    manifest, store_path = slower_canary(tmp_path, 1), tmp_path / "run.db"
    store = SqliteStore(store_path)
    try:
        [ref] = create(store, read_documents(manifest))
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        claim = {"phase": "init", "by": "init", "iteration": 0, "since": now}
        patch = {"status": {"inProgress": claim}}
        store.patch(EXPERIMENTS, ref.namespace, ref.name, patch, subresource="status")
    finally:
        store.close()
    started = time.monotonic()
    done = subprocess.run(
        [str(ITER8), "run", str(manifest), "--store", str(store_path), "--timeout", "90"],
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr
    assert "a stopped run left init at work on iteration 0: cleared" in done.stderr
    assert time.monotonic() - started < 60  # not the claim's two minutes
    assert stored_status(store_path)["stage"] == "Completed"
