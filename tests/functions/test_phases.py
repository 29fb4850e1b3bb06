"""Each phase in-process: the chain from add to promoted, and what at-least-once delivery does to
it (repeated, late, reordered and lost events)."""

from __future__ import annotations

import pytest
from cloudevents.http import CloudEvent

from functions.analyze import main as analyze
from functions.runtime import Runtime
from iter8.api.experiment import Experiment
from iter8.events import TERMINAL, BadEvent, EventType, ExperimentRef, event_data, experiment_event
from iter8.lifecycle import tick
from iter8.lifecycle.status import is_true
from iter8.store import EXPERIMENTS
from tests.functions.harness import (
    Clock,
    add_event,
    canary,
    deliver,
    experiment,
    setup,
    traffic,
)


def ref_of(exp: Experiment) -> ExperimentRef:
    return ExperimentRef(
        namespace=exp.namespace, name=exp.metadata.name or "", uid=exp.metadata.uid or ""
    )


def due_events(runtime: Runtime, clock: Clock) -> list[CloudEvent]:
    """What the tick would POST now."""
    experiments = [Experiment.from_wire(e) for e in runtime.store.list(EXPERIMENTS)[0]]
    return [
        experiment_event(r.type, "analyze", ref_of(r.experiment), r.iteration)
        for r in tick.plan(experiments, clock(), runtime.timeouts)
    ]


def run_to_end(runtime: Runtime, clock: Clock, name: str = "exp") -> list[str]:
    """Tick and deliver every event and reply until `name` completes. The event types seen."""
    seen: list[str] = []
    for _ in range(100):
        pending = due_events(runtime, clock)
        while pending:
            event = pending.pop(0)
            seen.append(event["type"])
            if EventType(event["type"]) in (EventType.WEIGHTS_APPLIED, *TERMINAL):
                continue  # for the sinks
            reply = deliver(runtime, event)
            if reply is not None:
                pending.append(reply)
        if experiment(runtime, name).status.stage == "Completed":
            return seen
        clock.advance(1)
    raise AssertionError(f"did not complete: {seen[-10:]}")


def test_a_canary_runs_from_add_to_promoted(runtime: Runtime, clock: Clock) -> None:
    setup(runtime, canary())
    reply = deliver(runtime, add_event(canary()))
    assert reply is not None and reply["type"] == EventType.INITIALIZED
    status = experiment(runtime).status
    assert status.stage == "Running" and is_true(status, "TargetAcquired")
    assert [(w.name, w.value) for w in status.current_weight_distribution] == [
        ("v1", 100),
        ("v2", 0),
    ]

    seen = run_to_end(runtime, clock)
    final = experiment(runtime).status
    assert final.stage == "Completed" and not is_true(final, "Failed")
    assert final.completed_iterations == 3  # the third concluded instead of routing, and counts
    assert seen.count(EventType.WEIGHTS_APPLIED) == 2
    assert seen[-1] == EventType.PROMOTED
    assert final.version_recommended_for_promotion == "v2"
    assert traffic(runtime) == [0, 100]


def test_repeated_and_late_events_change_nothing(runtime: Runtime, clock: Clock) -> None:
    setup(runtime, canary())
    initialized = deliver(runtime, add_event(canary()))
    assert deliver(runtime, add_event(canary())) is None  # a repeated add
    completed = deliver(runtime, initialized)
    assert completed["type"] == EventType.ANALYSIS_COMPLETED
    before = runtime.store.get(EXPERIMENTS, "default", "exp")["metadata"]["resourceVersion"]
    # the same `initialized` again: iteration 1 is analysed already, so the same hand-off comes back
    again = deliver(runtime, initialized)
    assert again["type"] == EventType.ANALYSIS_COMPLETED and event_data(again).iteration == 1
    assert runtime.store.get(EXPERIMENTS, "default", "exp")["metadata"]["resourceVersion"] == before
    applied = deliver(runtime, completed)
    assert applied["type"] == EventType.WEIGHTS_APPLIED
    assert deliver(runtime, completed) is None  # route twice: applied once
    assert experiment(runtime).status.completed_iterations == 1
    # an iteration from the future, and one from the past
    future = experiment_event(EventType.ITERATION_DUE, "analyze", event_data(completed), 3)
    assert deliver(runtime, future) is None
    past = experiment_event(EventType.ITERATION_DUE, "analyze", event_data(completed), 1)
    assert deliver(runtime, past) is None


def test_a_reply_lost_after_the_status_write_is_recovered_by_the_tick(
    runtime: Runtime, clock: Clock
) -> None:
    setup(runtime, canary())
    initialized = deliver(runtime, add_event(canary()))
    lost = deliver(runtime, initialized)  # analysis recorded, but route never hears of it
    assert lost["type"] == EventType.ANALYSIS_COMPLETED
    assert due_events(runtime, clock) == []  # the hand-off is fresh: route may still be at work
    clock.advance(runtime.timeouts.grace.total_seconds() + 1)
    [again] = due_events(runtime, clock)
    assert again["type"] == EventType.ITERATION_DUE and event_data(again).iteration == 1
    recovered = deliver(runtime, again)
    assert recovered["type"] == EventType.ANALYSIS_COMPLETED
    assert deliver(runtime, recovered)["type"] == EventType.WEIGHTS_APPLIED
    assert experiment(runtime).status.completed_iterations == 1


def test_an_invalid_experiment_fails_at_once_naming_the_field(runtime: Runtime) -> None:
    bad = canary()
    bad["spec"]["versionInfo"]["candidates"][0]["weightObjRef"]["fieldPath"] = "spec.traffic[1]"
    setup(runtime, bad)
    reply = deliver(runtime, add_event(bad))
    assert reply["type"] == EventType.FAILED
    status = experiment(runtime).status
    assert status.stage == "Completed" and is_true(status, "Failed")
    failed = next(c for c in status.conditions if c.type == "Failed")
    assert failed.reason == "InvalidExperiment"
    assert "spec.versionInfo.candidates[0].weightObjRef.fieldPath" in failed.message


def test_a_second_experiment_on_the_target_waits_its_turn(runtime: Runtime, clock: Clock) -> None:
    setup(runtime, canary())
    runtime.store.create(EXPERIMENTS, canary(name="second"))
    assert deliver(runtime, add_event(canary()))["type"] == EventType.INITIALIZED
    assert deliver(runtime, add_event(canary(name="second"))) is None
    waiting = experiment(runtime, "second").status
    assert waiting.stage == "Waiting" and not is_true(waiting, "TargetAcquired")
    assert "held by default/exp" in waiting.message
    run_to_end(runtime, clock)
    # the first is done: the tick admits the second
    clock.advance(1)
    events = [e for e in due_events(runtime, clock) if e["subject"] == "default/second"]
    assert [e["type"] for e in events] == [EventType.INITIALIZATION_DUE]
    assert deliver(runtime, events[0])["type"] == EventType.INITIALIZED


def test_the_tick_needs_a_broker_url(runtime: Runtime) -> None:
    with pytest.raises(BadEvent, match="K_SINK"):
        analyze.post_due_events(runtime)
