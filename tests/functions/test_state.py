"""`functions.state.Snapshot`: what a handler reads of an experiment, parsed once."""

from __future__ import annotations

from functions.state import Snapshot


def test_a_snapshot_parses_its_status_once_and_the_handler_may_change_it() -> None:
    raw = {
        "metadata": {"namespace": "ns", "name": "e", "uid": "u", "resourceVersion": "3"},
        "status": {"stage": "Running", "completedIterations": 2},
    }
    snapshot = Snapshot(raw)
    status = snapshot.status
    assert snapshot.status is status  # read several times per event, parsed once
    status.completed_iterations = 3
    assert raw["status"]["completedIterations"] == 2  # the raw object (for writes) is untouched
    assert Snapshot(raw).status.completed_iterations == 2
