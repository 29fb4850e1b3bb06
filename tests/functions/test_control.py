"""An operator's control, phase by phase in-process with a clock the test moves: pause holds
iterations and the split, resume goes on, abort rolls back with the reason, a forced promotion
ends with the named version, and the approval gate holds a promotion until approved, aborted or
timed out. The annotations are written as `iter8 pause` and friends write them."""

from __future__ import annotations

from typing import Any

import pytest

from functions.runtime import Runtime
from iter8.api.experiment import Experiment
from iter8.events import TERMINAL, EventType
from iter8.lifecycle import control
from iter8.lifecycle.status import condition, is_true
from iter8.store import EXPERIMENTS, PatchType
from tests.functions.harness import (
    Clock,
    add_event,
    canary,
    deliver,
    experiment,
    setup,
    traffic,
)
from tests.functions.test_phases import due_events


def ask(runtime: Runtime, command: control.Command, value: str | None = None) -> None:
    """What `iter8 <command> default/exp` writes."""
    wanted = control.annotations_to_write(experiment(runtime), command, value)
    assert isinstance(wanted, dict), wanted
    patch = {"metadata": {"annotations": wanted}}
    runtime.store.patch(EXPERIMENTS, "default", "exp", patch, PatchType.MERGE)


def step(runtime: Runtime, clock: Clock, seconds: float = 1) -> list[str]:
    """One tick and every event it sets off, delivered in-process; the event types seen."""
    seen = []
    pending = due_events(runtime, clock)
    while pending:
        event = pending.pop(0)
        seen.append(event["type"])
        if EventType(event["type"]) in (
            EventType.WEIGHTS_APPLIED,
            EventType.PAUSED,
            EventType.RESUMED,
            EventType.AWAITING_APPROVAL,
            *TERMINAL,
        ):
            continue  # for the sinks
        reply = deliver(runtime, event)
        if reply is not None:
            pending.append(reply)
    clock.advance(seconds)
    return seen


def started(runtime: Runtime, annotations: dict[str, str] | None = None, **spec: Any) -> None:
    body = canary(**spec)
    body["metadata"]["annotations"].update(annotations or {})
    setup(runtime, body)
    assert deliver(runtime, add_event(body)) is not None


def test_pause_stops_iterations_and_keeps_the_split_until_resumed(
    runtime: Runtime, clock: Clock
) -> None:
    started(runtime, duration={"intervalSeconds": 1, "iterationsPerLoop": 6})
    step(runtime, clock)
    step(runtime, clock)
    before = experiment(runtime).status
    split = traffic(runtime)
    assert before.completed_iterations == 2

    ask(runtime, "pause")
    assert EventType.PAUSED in step(runtime, clock)
    for _ in range(5):
        assert step(runtime, clock, seconds=5) == []  # nothing asked while it is paused
    paused = experiment(runtime).status
    assert paused.completed_iterations == 2 and traffic(runtime) == split
    assert is_true(paused, "Paused") and "iter8 resume" in condition(paused, "Paused").message
    assert isinstance(control.annotations_to_write(experiment(runtime), "pause"), control.Unchanged)

    ask(runtime, "resume")
    assert EventType.RESUMED in step(runtime, clock)
    for _ in range(10):
        step(runtime, clock)
    final = experiment(runtime).status
    assert final.stage == "Completed" and final.completed_iterations == 6
    assert condition(final, "Paused").status == "False"


def test_abort_rolls_back_at_once_with_the_reason(runtime: Runtime, clock: Clock) -> None:
    started(runtime, duration={"intervalSeconds": 1, "iterationsPerLoop": 10})
    for _ in range(3):
        step(runtime, clock)
    assert traffic(runtime)[1] > 0  # the candidate got traffic

    ask(runtime, "abort", "latency alarm in prod")
    seen = step(runtime, clock)
    assert seen[-1] == EventType.ABORTED
    final = experiment(runtime).status
    assert final.stage == "Completed" and not is_true(final, "Failed")
    assert traffic(runtime) == [100, 0]
    assert is_true(final, "Aborted")
    assert "latency alarm in prod" in condition(final, "Aborted").message
    assert "latency alarm in prod" in (final.message or "")
    refused = control.annotations_to_write(experiment(runtime), "abort")
    assert isinstance(refused, control.Refused) and "completed" in refused.message


def test_an_experiment_aborted_while_it_waits_for_its_target_ends_untouched(
    runtime: Runtime, clock: Clock
) -> None:
    started(runtime)
    second = canary(name="second")
    runtime.store.create(EXPERIMENTS, second)
    assert deliver(runtime, add_event(second)) is None
    assert experiment(runtime, "second").status.stage == "Waiting"
    patch = {"metadata": {"annotations": {control.ABORT: "not needed"}}}
    runtime.store.patch(EXPERIMENTS, "default", "second", patch, PatchType.MERGE)
    assert EventType.ABORTED in step(runtime, clock)
    status = experiment(runtime, "second").status
    assert status.stage == "Completed" and is_true(status, "Aborted")
    assert not is_true(status, "TargetAcquired")
    assert experiment(runtime).status.stage == "Running"  # the holder goes on


def test_promote_forces_the_named_version(runtime: Runtime, clock: Clock) -> None:
    started(runtime, duration={"intervalSeconds": 1, "iterationsPerLoop": 10})
    step(runtime, clock)
    refused = control.annotations_to_write(experiment(runtime), "promote", "v9")
    assert isinstance(refused, control.Refused) and "v1, v2" in refused.message
    ask(runtime, "promote", "v2")
    assert step(runtime, clock)[-1] == EventType.PROMOTED
    final = experiment(runtime).status
    assert final.stage == "Completed" and traffic(runtime) == [0, 100]
    assert is_true(final, "PromotionForced") and final.version_recommended_for_promotion == "v2"
    assert final.completed_iterations == 1


GATE = {control.APPROVAL: "required"}


def run_to_gate(runtime: Runtime, clock: Clock, notes: dict[str, str]) -> list[str]:
    started(runtime, notes)
    seen: list[str] = []
    for _ in range(10):
        seen += step(runtime, clock)
        if is_true(experiment(runtime).status, "AwaitingApproval"):
            return seen
    raise AssertionError(f"never reached the gate: {seen}")


def test_the_gate_holds_a_promotion_and_its_split_until_approved(
    runtime: Runtime, clock: Clock
) -> None:
    seen = run_to_gate(runtime, clock, GATE)
    assert seen.count(EventType.AWAITING_APPROVAL) == 1
    split = traffic(runtime)
    assert split != [0, 100]
    for _ in range(5):
        assert step(runtime, clock, seconds=30) == []  # no event while it waits
    waiting = experiment(runtime).status
    assert waiting.stage == "Finishing" and traffic(runtime) == split
    assert "iter8 approve default/exp" in condition(waiting, "AwaitingApproval").message

    ask(runtime, "approve")
    assert step(runtime, clock)[-1] == EventType.PROMOTED
    final = experiment(runtime).status
    assert final.stage == "Completed" and traffic(runtime) == [0, 100]
    gate = condition(final, "AwaitingApproval")
    assert gate.status == "False" and gate.reason == "Approved"


@pytest.mark.parametrize(
    ("outcome", "event", "split"),
    [("rollback", EventType.ROLLED_BACK, [100, 0]), ("promote", EventType.PROMOTED, [0, 100])],
)
def test_the_gate_times_out_with_the_stated_outcome(
    runtime: Runtime, clock: Clock, outcome: str, event: EventType, split: list[int]
) -> None:
    notes = {**GATE, control.APPROVAL_TIMEOUT: "1m", control.APPROVAL_TIMEOUT_OUTCOME: outcome}
    run_to_gate(runtime, clock, notes)
    assert step(runtime, clock, seconds=50) == []
    assert experiment(runtime).status.stage == "Finishing"
    clock.advance(15)
    assert step(runtime, clock)[-1] == event
    final = experiment(runtime).status
    assert final.stage == "Completed" and traffic(runtime) == split
    assert condition(final, "AwaitingApproval").reason == "TimedOut"


def test_abort_at_the_gate_rolls_back(runtime: Runtime, clock: Clock) -> None:
    run_to_gate(runtime, clock, GATE)
    ask(runtime, "abort", "changed our minds")
    assert step(runtime, clock)[-1] == EventType.ABORTED
    final = experiment(runtime).status
    assert traffic(runtime) == [100, 0] and is_true(final, "Aborted")
    assert condition(final, "AwaitingApproval").reason == "Aborted"


def test_a_rollback_never_waits_at_the_gate(runtime: Runtime, clock: Clock) -> None:
    body = canary()
    body["metadata"]["annotations"].update(GATE)
    setup(runtime, body, levels={"v1": 100, "v2": 5000})  # the candidate breaks its limit
    deliver(runtime, add_event(body))
    for _ in range(10):
        step(runtime, clock)
    final = experiment(runtime).status
    assert final.stage == "Completed" and traffic(runtime) == [100, 0]
    assert condition(final, "AwaitingApproval") is None


def test_approve_is_refused_without_a_gate(runtime: Runtime) -> None:
    started(runtime)
    refused = control.annotations_to_write(experiment(runtime), "approve")
    assert isinstance(refused, control.Refused) and control.APPROVAL in refused.message


def test_an_experiment_from_the_store_loads_its_annotations(runtime: Runtime) -> None:
    started(runtime, {control.PAUSED: "true"})
    loaded = Experiment.from_wire(runtime.store.get(EXPERIMENTS, "default", "exp"))
    assert control.control_of(loaded).paused
