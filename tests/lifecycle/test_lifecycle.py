"""The pure lifecycle rules: stages, conditions, the target order, the tick's plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from iter8.api.experiment import Experiment, ExperimentStatus, InProgress
from iter8.events import EventType
from iter8.lifecycle import tick
from iter8.lifecycle.status import (
    advance_stage,
    fail,
    initial_status,
    is_completed,
    is_true,
    set_condition,
    timestamp,
)
from iter8.lifecycle.target import may_acquire

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def experiment(name: str, target: str = "default/app", **status: Any) -> Experiment:
    return Experiment.from_wire(
        {
            "metadata": {
                "name": name,
                "namespace": "default",
                "uid": f"uid-{name}",
                "creationTimestamp": timestamp(T0),
            },
            "spec": {
                "target": target,
                "strategy": {"testingPattern": "Canary"},
                "duration": {"intervalSeconds": 10, "iterationsPerLoop": 3},
                "versionInfo": {"baseline": {"name": "v1"}, "candidates": [{"name": "v2"}]},
            },
            **({"status": status} if status else {}),
        }
    )


def test_stages_only_move_forward_and_conditions_keep_their_transition_time() -> None:
    status = initial_status(T0)
    assert status.stage == "Waiting" and status.completed_iterations == 0
    assert advance_stage(status, "Running") and not advance_stage(status, "Initializing")
    assert status.stage == "Running"
    later = T0 + timedelta(seconds=5)
    set_condition(status, "Completed", False, "IterationUpdate", "Completed Iteration 1", later)
    completed = next(c for c in status.conditions or [] if c.type == "Completed")
    assert completed.last_transition_time == timestamp(T0)  # the status did not change
    assert status.message == "IterationUpdate: Completed Iteration 1"
    fail(status, "HandlerFailed", "Finish actions failed", later)
    assert is_completed(status) and is_true(status, "Failed") and status.stage == "Completed"


def test_the_target_goes_to_the_earliest_unfinished_contender() -> None:
    first = experiment("a", **{"initTime": timestamp(T0)})
    second = experiment("b", **{"initTime": timestamp(T0 + timedelta(seconds=1))})
    other_target = experiment(
        "c", target="default/other", **{"initTime": timestamp(T0 - timedelta(seconds=9))}
    )
    everyone = [first, second, other_target]
    assert may_acquire(first, everyone)
    assert not may_acquire(second, everyone)
    assert may_acquire(other_target, everyone)
    holding = experiment(
        "b",
        initTime=timestamp(T0 + timedelta(seconds=1)),
        conditions=[{"type": "TargetAcquired", "status": "True"}],
    )
    assert not may_acquire(first, [first, holding])  # a holder keeps it, earlier or not
    done = experiment("b", stage="Completed", conditions=[{"type": "Completed", "status": "True"}])
    assert may_acquire(first, [first, done])


def running(completed: int, last_update: datetime, **extra: Any) -> Experiment:
    return experiment(
        "run",
        stage="Running",
        completedIterations=completed,
        lastUpdateTime=timestamp(last_update),
        **extra,
    )


def plan_for(exp: Experiment, now: datetime) -> list[tuple[EventType, int]]:
    return [(r.type, r.iteration) for r in tick.plan([exp], now)]


def test_the_first_iteration_is_due_at_once_and_the_next_after_the_interval() -> None:
    assert plan_for(running(0, T0), T0) == [(EventType.ITERATION_DUE, 1)]
    assert plan_for(running(1, T0), T0 + timedelta(seconds=9)) == []
    assert plan_for(running(1, T0), T0 + timedelta(seconds=9.95)) == [(EventType.ITERATION_DUE, 2)]
    assert plan_for(running(3, T0), T0 + timedelta(hours=1)) == []  # all 3 iterations done


def test_claims_hold_off_the_tick_until_they_go_stale() -> None:
    def claimed(phase: str, by: str) -> Experiment:
        claim = InProgress(phase=phase, by=by, iteration=2, since=timestamp(T0)).to_wire()
        return running(1, T0 - timedelta(seconds=60), inProgress=claim)

    assert plan_for(claimed("analyze", "analyze"), T0 + timedelta(seconds=60)) == []
    assert plan_for(claimed("analyze", "analyze"), T0 + timedelta(seconds=121)) == [
        (EventType.ITERATION_DUE, 2)
    ]
    # a hand-off to route is presumed lost after the short grace period
    assert plan_for(claimed("route", "analyze"), T0 + timedelta(seconds=4)) == []
    assert plan_for(claimed("route", "analyze"), T0 + timedelta(seconds=6)) == [
        (EventType.ITERATION_DUE, 2)
    ]


def test_lost_add_events_and_waiting_experiments_are_driven_again() -> None:
    fresh = experiment("new")
    assert plan_for(fresh, T0 + timedelta(seconds=1)) == []
    assert plan_for(fresh, T0 + timedelta(seconds=6)) == [(EventType.INITIALIZATION_DUE, 0)]
    waiting = experiment("w", stage="Waiting", initTime=timestamp(T0))
    holder = experiment(
        "h",
        stage="Running",
        initTime=timestamp(T0 - timedelta(seconds=1)),
        conditions=[{"type": "TargetAcquired", "status": "True"}],
        completedIterations=1,
        lastUpdateTime=timestamp(T0),
    )
    assert [(r.type, r.experiment.metadata.name) for r in tick.plan([waiting, holder], T0)] == []
    holder_done = holder.model_copy(update={"status": ExperimentStatus(stage="Completed")})
    assert [
        (r.type, r.experiment.metadata.name) for r in tick.plan([waiting, holder_done], T0)
    ] == [(EventType.INITIALIZATION_DUE, "w")]


def test_busy_means_a_fresh_working_claim() -> None:
    timeouts = tick.Timeouts()
    working = ExperimentStatus(
        in_progress=InProgress(phase="promote", by="promote", since=timestamp(T0))
    )
    handed = ExperimentStatus(
        in_progress=InProgress(phase="promote", by="analyze", since=timestamp(T0))
    )
    assert tick.busy(working, T0 + timedelta(seconds=1), timeouts)
    assert not tick.busy(working, T0 + timedelta(seconds=121), timeouts)
    assert not tick.busy(handed, T0 + timedelta(seconds=1), timeouts)


def test_the_tick_asks_for_the_longest_waiting_first() -> None:
    """Listed by name, planned by due time: a tick's burst serves iterations as they fell due."""
    late = experiment("a", stage="Running", completedIterations=1, lastUpdateTime=timestamp(T0))
    early = experiment(
        "b", stage="Running", completedIterations=1, lastUpdateTime=timestamp(T0 - timedelta(1))
    )
    fresh = experiment("c")  # its `add` event was lost: due since its creation (T0) + grace
    bad = experiment("d", stage="Waiting", target="default/d", lastUpdateTime="not a time")
    now = T0 + timedelta(seconds=30)
    planned = [r.experiment.metadata.name for r in tick.plan([late, early, fresh, bad], now)]
    assert planned == ["d", "b", "c", "a"]  # a stamp that does not parse goes first, no error


def test_the_planning_view_keeps_what_the_plan_reads_and_passes_completed_ones_over() -> None:
    stored = experiment(
        "a",
        stage="Running",
        completedIterations=2,
        lastUpdateTime=timestamp(T0),
        analysis={"iteration": 2, "decision": {"action": "continue"}, "history": {"x": [1]}},
        metrics=[{"name": "default/latency", "metricObj": {"spec": {}}}],
        currentWeightDistribution=[{"name": "v1", "value": 80}, {"name": "v2", "value": 20}],
    ).to_wire()
    view = tick.planning_view(stored)
    assert view is not None and view["spec"] == stored["spec"]
    assert view["metadata"] == stored["metadata"]
    assert view["status"] == {
        "stage": "Running",
        "completedIterations": 2,
        "lastUpdateTime": timestamp(T0),
        "analysis": {"iteration": 2, "decision": {"action": "continue"}},
    }
    assert tick.planning_view({**stored, "status": {"stage": "Completed"}}) is None
    assert tick.planning_view({**stored, "status": {"analysis": 7}})["status"] == {"analysis": 7}


def test_the_look_ahead_asks_for_what_falls_due_within_it_at_its_due_time() -> None:
    """Interval 10 s, the last iteration ended at T0: due at T0 + 10 s."""

    def planned(
        exp: Experiment, now: datetime, ahead: float = 5
    ) -> list[tuple[int, datetime | None]]:
        return [(r.iteration, r.at) for r in tick.plan([exp], now, ahead=timedelta(seconds=ahead))]

    due, soon = T0 + timedelta(seconds=10), T0 + timedelta(seconds=6)
    assert planned(running(1, T0), T0 + timedelta(seconds=4)) == []  # due beyond the look-ahead
    assert planned(running(1, T0), soon) == [(2, due)]
    assert planned(running(1, T0), T0 + timedelta(seconds=9.95)) == [(2, None)]  # due now
    assert planned(running(3, T0), soon) == []  # no iteration left
    # nothing but time may hold it back: a fresh claim, a recorded analysis, a pause
    claim = InProgress(phase="analyze", by="analyze", iteration=2, since=timestamp(T0))
    assert planned(running(1, T0, inProgress=claim.to_wire()), soon) == []
    recorded = running(1, T0 + timedelta(seconds=3), analysis={"iteration": 2})
    assert planned(recorded, soon, ahead=9) == []
    assert planned(running(1, T0 + timedelta(seconds=3)), soon, ahead=9) == [
        (2, due + timedelta(seconds=3))
    ]
    paused = running(1, T0, conditions=[{"type": "Paused", "status": "True"}])
    paused.metadata.annotations = {"iter8.tools/paused": "true"}  # and analyze has marked it
    assert planned(paused, soon) == []
    # without a look-ahead (the default), only what is due now
    assert plan_for(running(1, T0), soon) == []


def test_what_is_due_now_comes_before_what_is_asked_for_ahead() -> None:
    due_later = experiment(
        "a", stage="Running", completedIterations=1, lastUpdateTime=timestamp(T0)
    )
    due_sooner = experiment(
        "b",
        stage="Running",
        completedIterations=1,
        lastUpdateTime=timestamp(T0 - timedelta(seconds=2)),
    )
    due_now = experiment("c", stage="Running", completedIterations=0, lastUpdateTime=timestamp(T0))
    now = T0 + timedelta(seconds=7)
    requests = tick.plan([due_later, due_sooner, due_now], now, ahead=timedelta(seconds=5))
    assert [(r.experiment.metadata.name, r.at) for r in requests] == [
        ("c", None),
        ("b", T0 + timedelta(seconds=8)),
        ("a", T0 + timedelta(seconds=10)),
    ]
