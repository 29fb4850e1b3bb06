"""What the periodic tick asks for: which experiments need an event now, and which.

Level-triggered (DESIGN principle 4). The tick remembers nothing; it reads each experiment's
status and asks again for whatever is due or stuck. Handlers are idempotent, so asking for work
that is already done costs one no-op.

A phase that takes up work marks it in `status.inProgress`; so does a phase that hands work on
(analyze → route). The mark goes stale after `handoff` for route (a few patches) and after
`claim` for the phases that run actions or fetch metrics; a stale mark means the event or the
phase was lost, and the tick asks again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from iter8.api.experiment import Experiment, ExperimentStatus
from iter8.events import EventType
from iter8.lifecycle import control
from iter8.lifecycle.schedule import is_due, next_due
from iter8.lifecycle.status import parse_time
from iter8.lifecycle.target import may_acquire


@dataclass(frozen=True)
class Timeouts:
    grace: timedelta = timedelta(seconds=5)  # an `add` event that never came; a route hand-off
    claim: timedelta = timedelta(seconds=120)  # init, analyze, promote at work

    def of(self, phase: str) -> timedelta:
        return self.grace if phase == "route" else self.claim


@dataclass(frozen=True)
class Request:
    type: EventType
    experiment: Experiment
    iteration: int
    at: datetime | None = None  # when to ask: now (None), or when the iteration falls due


def busy(status: ExperimentStatus, now: datetime, timeouts: Timeouts) -> bool:
    """A phase is at work on this experiment (its own claim, not a hand-off) and not presumed dead."""
    claim = status.in_progress
    return (
        claim is not None
        and claim.working
        and not _older(claim.since, now, timeouts.of(claim.phase))
    )


# What `plan` reads of a stored experiment's status (the rest, the analysis with its history and
# the metrics' copies, is most of a running experiment's bytes, and the tick reads every one).
PLANNED_STATUS = (
    "conditions",
    "initTime",
    "lastUpdateTime",
    "stage",
    "completedIterations",
    "inProgress",
    "versionInfo",
)
PLANNED_ANALYSIS = ("iteration", "decision")


def planning_view(stored: dict[str, Any]) -> dict[str, Any] | None:
    """A stored experiment cut to what `plan` reads, to be parsed; None for a completed one,
    which needs no event and holds no target (`target.holder` and `may_acquire` pass it over).

    The spec stays whole (the target, the duration, the versions); the status keeps
    `PLANNED_STATUS` and, of the analysis, `PLANNED_ANALYSIS`. A field of the wrong type stays,
    so a status that does not parse is treated as before.
    """
    status = stored.get("status")
    if not isinstance(status, dict):
        return stored
    if status.get("stage") == "Completed":
        return None
    kept = {key: status[key] for key in PLANNED_STATUS if key in status}
    analysis = status.get("analysis")
    if isinstance(analysis, dict):
        kept["analysis"] = {key: analysis[key] for key in PLANNED_ANALYSIS if key in analysis}
    elif "analysis" in status:
        kept["analysis"] = analysis
    return {**stored, "status": kept}


def plan(
    experiments: Iterable[Experiment],
    now: datetime,
    timeouts: Timeouts = Timeouts(),
    ahead: timedelta = timedelta(0),
) -> list[Request]:
    """The events wanted now, the longest waiting first: an iteration due earlier is asked for
    before one due later, so a tick's burst serves them in the order they fell due.

    With `ahead`, also the iterations that fall due within it, each to be asked for `at` its due
    time (they come last, in that order): without them an iteration due just after a tick waits
    for the next one, and one-second iterations on a one-second tick run every two seconds.
    """
    experiments = list(experiments)
    requests: list[Request] = []
    for experiment in experiments:
        wanted = _wanted(experiment, experiments, now, timeouts, ahead)
        if wanted is not None:
            requests.append(wanted)
    return sorted(requests, key=lambda request: _waiting_since(request.experiment))


def _wanted(
    experiment: Experiment,
    everyone: list[Experiment],
    now: datetime,
    timeouts: Timeouts,
    ahead: timedelta,
) -> Request | None:
    status = experiment.status or ExperimentStatus()
    claim = status.in_progress
    if claim is not None and not _older(claim.since, now, timeouts.of(claim.phase)):
        return None  # a phase is on it
    stage = status.stage
    next_iteration = (status.completed_iterations or 0) + 1
    initialization = Request(EventType.INITIALIZATION_DUE, experiment, 0)
    iteration = Request(EventType.ITERATION_DUE, experiment, next_iteration)
    if stage is None:  # never initialized: the `add` event was lost
        if _older(experiment.metadata.creation_timestamp, now, timeouts.grace):
            return initialization
        return None
    if stage == "Waiting":  # init also ends one aborted before it started
        wanted = control.control_of(experiment).abort is not None or may_acquire(
            experiment, everyone
        )
        return initialization if wanted else None
    if stage == "Initializing":
        return initialization
    if stage == "Running":
        if control.needs_running(experiment):  # abort, forced promotion, pause, resume
            return iteration
        recorded = status.analysis is not None and status.analysis.iteration == next_iteration
        if recorded:  # analysed, but the iteration never completed: a reply was lost
            return iteration if _older(status.last_update_time, now, timeouts.grace) else None
        if control.control_of(experiment).paused:
            return None
        if is_due(experiment, now):
            return iteration
        due = next_due(experiment)  # not yet: ask at its due time if that is within `ahead`
        return replace(iteration, at=due) if due is not None and due <= now + ahead else None
    if stage == "Finishing":  # unless it waits at the approval gate with nothing changed
        return iteration if control.needs_finishing(experiment, now) else None
    return None


def _waiting_since(experiment: Experiment) -> datetime:
    """When the next iteration fell due, or (not iterating) when the status last changed; a
    stamp that does not parse sorts first rather than failing the tick."""
    status = experiment.status
    stamp = (status.last_update_time if status else None) or experiment.metadata.creation_timestamp
    try:
        return next_due(experiment) or (parse_time(stamp) if stamp else _EPOCH)
    except ValueError:
        return _EPOCH


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _older(stamp: str | None, now: datetime, age: timedelta) -> bool:
    return stamp is not None and now - parse_time(stamp) > age
