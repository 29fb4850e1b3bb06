"""Status transitions as Iter8 v2's controller made them (iter8-v2.md §1.2–1.4), on plain data.

Stages only move forward; a condition's `lastTransitionTime` moves only when its status does;
`status.message` is `<Reason>: <message>` of the last change.
"""

from __future__ import annotations

from datetime import UTC, datetime

from iter8.api.experiment import Condition, ExperimentStatus, Stage

STAGES: tuple[Stage, ...] = ("Waiting", "Initializing", "Running", "Finishing", "Completed")

COMPLETED = "Completed"
FAILED = "Failed"
TARGET_ACQUIRED = "TargetAcquired"


def timestamp(now: datetime) -> str:
    """RFC 3339 in UTC with a `Z`; microseconds, because iterations can be a second apart."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def initial_status(now: datetime) -> ExperimentStatus:
    stamp = timestamp(now)
    status = ExperimentStatus(
        stage="Waiting", completed_iterations=0, init_time=stamp, last_update_time=stamp
    )
    for kind in (COMPLETED, FAILED, TARGET_ACQUIRED):
        set_condition(status, kind, False, "ExperimentInitialized", "New experiment", now)
    status.message = "ExperimentInitialized: New experiment"
    return status


def condition(status: ExperimentStatus, kind: str) -> Condition | None:
    return next((c for c in status.conditions or [] if c.type == kind), None)


def is_true(status: ExperimentStatus | None, kind: str) -> bool:
    found = condition(status, kind) if status is not None else None
    return found is not None and found.status == "True"


def set_condition(
    status: ExperimentStatus, kind: str, value: bool, reason: str, message: str, now: datetime
) -> None:
    """Set a condition and the status message; the transition time moves only on a change."""
    wanted = "True" if value else "False"
    existing = condition(status, kind)
    if existing is None:
        status.conditions = [*(status.conditions or []), Condition(type=kind, status=wanted)]
        existing = status.conditions[-1]
        existing.last_transition_time = timestamp(now)
    elif existing.status != wanted:
        existing.status = wanted
        existing.last_transition_time = timestamp(now)
    existing.reason, existing.message = reason, message
    status.message = f"{reason}: {message}"


def advance_stage(status: ExperimentStatus, stage: Stage) -> bool:
    """Move to `stage` if it is later than the current one; stages never go back."""
    current = STAGES.index(status.stage) if status.stage else -1
    if STAGES.index(stage) <= current:
        return False
    status.stage = stage
    return True


def is_completed(status: ExperimentStatus | None) -> bool:
    return status is not None and (status.stage == "Completed" or is_true(status, COMPLETED))


def fail(status: ExperimentStatus, reason: str, message: str, now: datetime) -> None:
    """Failure ends the experiment at once, as in v2: Failed=True, Completed=True, no actions."""
    set_condition(status, FAILED, True, reason, message, now)
    set_condition(status, COMPLETED, True, reason, message, now)
    status.stage = "Completed"
    status.last_update_time = timestamp(now)


def complete(status: ExperimentStatus, message: str, now: datetime) -> None:
    set_condition(status, COMPLETED, True, "ExperimentCompleted", message, now)
    status.stage = "Completed"
    status.last_update_time = timestamp(now)
