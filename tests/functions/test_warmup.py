"""The analyze function rehearses its first events before it serves (`functions.warmup`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from functions import warmup
from functions.analyze import main as analyze
from iter8.embedded import processes
from iter8.events import EventType
from iter8.store import EXPERIMENTS, METRICS
from iter8.store.resources import KNATIVE_SERVICES
from iter8.store.sqlite import SqliteStore


def _leftovers() -> set[str]:
    parent = warmup.scratch_parent() or Path(tempfile.gettempdir())
    return {p.name for p in parent.glob("iter8-warm-up-*")}


def test_the_rehearsal_runs_every_iteration_of_both_algorithms_and_leaves_nothing() -> None:
    before = _leftovers()
    seen: list[tuple[str, str | None]] = []

    def handle(event: CloudEvent, runtime: Any) -> CloudEvent | None:
        reply = analyze.handle(event, runtime)
        seen.append((event["type"], reply["type"] if reply is not None else None))
        return reply

    warmup.rehearse(handle)
    completed = (EventType.INITIALIZED, EventType.ANALYSIS_COMPLETED)
    due = (EventType.ITERATION_DUE, EventType.ANALYSIS_COMPLETED)
    assert seen == [completed, due] * len(warmup.ALGORITHMS)
    assert _leftovers() == before


def test_a_failed_rehearsal_is_logged_and_the_server_serves_anyway(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: CloudEvent, runtime: Any) -> CloudEvent | None:
        raise RuntimeError("broken")

    warmup.rehearse(broken)
    assert "the warm-up failed" in caplog.text


def test_the_function_rehearses_on_a_scratch_store_not_its_own(tmp_path: Path) -> None:
    store_path = tmp_path / "store.db"
    listener = processes.listen()
    function = processes.start("analyze", {"ITER8_STORE": f"sqlite:{store_path}"}, listener)
    try:
        processes.wait_until_serving([function])
        store = SqliteStore(store_path)
        for resource in (EXPERIMENTS, METRICS, KNATIVE_SERVICES):
            assert store.list(resource)[0] == []
        store.close()
    finally:
        function.stop()
        listener.close()


def test_the_scratch_store_is_in_memory_where_there_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a tmpfs the scratch store's syncs cost nothing (on a disk, ~25 ms of a cold start)."""
    monkeypatch.setattr(warmup, "IN_MEMORY", tmp_path)
    during: list[str] = []

    def handle(event: CloudEvent, runtime: Any) -> CloudEvent | None:
        during.extend(p.name for p in tmp_path.glob("iter8-warm-up-*/*.db"))
        return analyze.handle(event, runtime)

    warmup.rehearse(handle)
    assert during and set(during) == {"warm-up.db"}
    assert list(tmp_path.iterdir()) == []  # removed after


def test_without_dev_shm_the_scratch_store_is_in_the_temporary_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warmup, "IN_MEMORY", tmp_path / "absent")
    assert warmup.scratch_parent() is None
