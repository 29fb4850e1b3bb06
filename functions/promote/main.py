"""promote: finish a concluded experiment — 100% to the winner (or back to the baseline), the
`finish` actions, stage Completed, the target released.

On `experiment.concluded`. The outcome comes from the decision recorded in `status.analysis`
(promote <version>, rollback, no-winner). Replies `experiment.promoted`, `.rolledback`,
`.completed` (no winner: the baseline keeps the traffic) or `.failed` with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import functions_framework
from cloudevents.http import CloudEvent
from flask import Request

from functions import lease, state
from functions.http import Response, serve
from functions.runtime import Runtime
from iter8.api.experiment import Experiment, ExperimentStatus, InProgress, VersionWeight
from iter8.events import EventType, ExperimentRef, event_data, experiment_event
from iter8.lifecycle import control, tick
from iter8.lifecycle.status import complete, fail, is_true, set_condition, timestamp
from iter8.routing import (
    RoutingError,
    apply_weights,
    check_atomic_switch,
    leave_nothing_behind,
    promote_weights,
    promotion_is_routed,
    worth_retrying,
)
from iter8.store import Conflict, StoreError
from iter8.tasks import TaskContext, run_action

PHASE = "promote"
ACCEPTS = (EventType.CONCLUDED,)  # what its Trigger lets through

OUTCOMES = {
    "promote": (EventType.PROMOTED, "Experiment completed successfully: promoted {version}"),
    "rollback": (EventType.ROLLED_BACK, "Experiment rolled back to {version}"),
    "no-winner": (EventType.COMPLETED, "Experiment completed without a winner: kept {version}"),
}


@functions_framework.http
def promote(request: Request) -> Response:
    return serve(request, handle, PHASE, ACCEPTS)


def handle(event: CloudEvent, runtime: Runtime) -> CloudEvent | None:
    data = event_data(event)
    ref = ExperimentRef(namespace=data.namespace, name=data.name, uid=data.uid)
    if not runtime.watches(ref.namespace):
        return None
    return state.retry_on_conflict(lambda: _finish(runtime, ref))


def _finish(runtime: Runtime, ref: ExperimentRef) -> CloudEvent | None:
    snapshot = state.read(runtime.store, ref)
    if snapshot is None:
        return None
    status = snapshot.status
    now = runtime.now()
    if status.stage != "Finishing" or tick.busy(status, now, runtime.timeouts):
        return None  # not concluded, already finished, or another replica is finishing it
    experiment = snapshot.experiment()
    analysed = (status.analysis.decision if status.analysis else None) or {}
    decision = control.finishing_decision(experiment, analysed, now)
    if isinstance(decision, control.Hold):
        return _hold(runtime, snapshot, analysed, decision)
    _open_gate(status, decision, now)
    status.in_progress = InProgress(
        phase=PHASE, by=PHASE, iteration=status.completed_iterations or 0, since=timestamp(now)
    )
    snapshot = state.write_status(runtime.store, snapshot, status)

    action = decision.get("action", "no-winner")
    baseline = experiment.versions[0].name
    keep = decision.get("version") if action == "promote" and decision.get("version") else baseline
    applied = _apply(runtime, experiment, keep)
    failure = applied if isinstance(applied, str) else None
    if failure is not None:  # the split stays; the mirror and test routes go all the same
        left = leave_nothing_behind(runtime.store, experiment)
        failure += f"; {left}" if left else ""
    if failure is None:
        result = run_action(
            (experiment.spec.strategy.actions or {}).get("finish") or [],
            TaskContext(experiment=experiment, store=runtime.store),
        )
        failure = None if result.ok else f"Finish actions failed: {result.message}"

    status = snapshot.status
    if isinstance(applied, dict) and applied:
        status.current_weight_distribution = [
            VersionWeight(name=v.name, value=applied[v.name])
            for v in experiment.versions
            if v.name in applied
        ]
    status.in_progress = None
    if status.analysis and status.analysis.iteration:  # the concluding iteration counts, as in v2
        status.completed_iterations = max(
            status.completed_iterations or 0, status.analysis.iteration
        )
    status.version_recommended_for_promotion = keep
    now = runtime.now()
    if failure is not None:
        fail(status, "HandlerFailed", failure, now)
        event_type, message = EventType.FAILED, failure
    else:
        event_type, template = OUTCOMES.get(action, OUTCOMES["no-winner"])
        if decision.get("control") == "abort":
            event_type, template = EventType.ABORTED, "Experiment aborted: rolled back to {version}"
        message = template.format(version=keep)
        if decision.get("control"):
            message += f" ({decision.get('reason')})"
        complete(status, message, now)
    done = state.write_status(runtime.store, snapshot, status)
    lease.release(runtime.store, experiment.spec.target, done.ref)
    return experiment_event(
        event_type,
        PHASE,
        done.ref,
        status.completed_iterations or 0,
        outcome=action,
        version=keep,
        reason=decision.get("reason"),
        message=message,
    )


def _hold(
    runtime: Runtime, snapshot: state.Snapshot, decision: dict[str, Any], hold: control.Hold
) -> CloudEvent | None:
    """Promotion waits for approval: the split stays, nothing is claimed, the tick stands back
    until the operator acts or the timeout passes. Announced once, when the gate closes."""
    status = snapshot.status
    if is_true(status, control.CONDITION_AWAITING_APPROVAL):
        return None
    ref = snapshot.ref
    now = runtime.now()
    message = (
        f"{decision.get('version')} is ready for promotion and waits for approval: "
        f"iter8 approve {ref}, or iter8 abort {ref}"
    )
    timeout = control.control_of(snapshot.experiment()).approval_timeout
    if timeout is not None:
        outcome = control.control_of(snapshot.experiment()).timeout_outcome
        message += f"; after {timeout} without approval: {outcome}"
    set_condition(
        status, control.CONDITION_AWAITING_APPROVAL, True, "AwaitingApproval", message, now
    )
    status.in_progress = None
    done = state.write_status(runtime.store, snapshot, status)
    return experiment_event(
        EventType.AWAITING_APPROVAL,
        PHASE,
        done.ref,
        status.completed_iterations or 0,
        version=decision.get("version"),
        message=message,
    )


def _open_gate(status: ExperimentStatus, decision: dict[str, Any], now: datetime) -> None:
    """Record how the approval gate (if it was closed) opened, and what an operator forced."""
    how = decision.get("control")
    if is_true(status, control.CONDITION_AWAITING_APPROVAL):
        reason = {"approval-timeout": "TimedOut", "abort": "Aborted", "promote": "PromotionForced"}
        why = reason.get(how or "", "Approved")
        message = decision.get("reason") if how else "Approved by an operator"
        set_condition(status, control.CONDITION_AWAITING_APPROVAL, False, why, message, now)
    if how == "abort":
        set_condition(status, control.CONDITION_ABORTED, True, "Aborted", decision["reason"], now)
    elif how == "promote":
        set_condition(
            status,
            control.CONDITION_PROMOTION_FORCED,
            True,
            "PromotionForced",
            decision["reason"],
            now,
        )


def _apply(runtime: Runtime, experiment: Experiment, keep: str) -> dict[str, int] | str:
    """Send all traffic to `keep` — FixedSplit's winner, BlueGreen's one-patch switch (or its
    rollback) included — and remove the experiment's mirror and test routes in the same patch:
    the split now in force, or why it could not be done."""
    if not promotion_is_routed(experiment):
        return {}
    try:
        check_atomic_switch(experiment)
        weights = promote_weights(experiment, keep)
        return apply_weights(runtime.store, experiment, weights, finish=True).weights
    except Conflict:
        raise  # still contended after the router's own retries: let the broker retry
    except (RoutingError, StoreError, ValueError) as error:
        if isinstance(error, StoreError) and worth_retrying(error):
            raise  # the server may recover: the broker (or the tick) retries
        return f"Cannot send all traffic to {keep}: {getattr(error, 'message', error)}"
