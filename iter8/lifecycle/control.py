"""An operator's control of a running experiment: pause, resume, abort, approve, force promotion.

Declarative, as Kubernetes users expect (Argo Rollouts' pause/abort/promote, Flagger's
confirm-promotion gate): the operator writes an annotation on the Experiment (`iter8 pause NAME`,
or `kubectl annotate`); the functions read it at their next step and record what they did in a
condition. Annotations, not spec fields, because an Iter8 v2 manifest stays as it was, the
functions never need write access to the spec, and `kubectl annotate` works on any cluster.

| annotation                               | value                 | effect                          |
|------------------------------------------|-----------------------|---------------------------------|
| `iter8.tools/paused`                     | `"true"`              | no iteration; the split stays   |
| `iter8.tools/abort`                      | the reason            | roll back now (stage Finishing) |
| `iter8.tools/promote`                    | a version's name      | promote that version now        |
| `iter8.tools/approval`                   | `"required"`          | a gate before promoting         |
| `iter8.tools/approval-timeout`           | `90`, `30s`, `10m`, `2h` | how long the gate waits       |
| `iter8.tools/approval-timeout-outcome`   | `rollback` / `promote` | what then (default rollback)   |
| `iter8.tools/approved`                   | `"true"`              | opens the gate                  |

The gate holds only a candidate's promotion: a rollback, a run without a winner or the baseline
kept proceeds at once (not waiting is the safe side of those). Without a timeout the gate waits until it is approved,
aborted or a version is promoted by hand. Abort wins over a forced promotion, which wins over
the gate. Pure functions of the experiment; the functions are the shells.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from iter8.api.experiment import Experiment, ExperimentStatus
from iter8.lifecycle.status import condition, is_true, parse_time

PREFIX = "iter8.tools/"
PAUSED = PREFIX + "paused"
ABORT = PREFIX + "abort"
PROMOTE = PREFIX + "promote"
APPROVAL = PREFIX + "approval"
APPROVAL_TIMEOUT = PREFIX + "approval-timeout"
APPROVAL_TIMEOUT_OUTCOME = PREFIX + "approval-timeout-outcome"
APPROVED = PREFIX + "approved"

# conditions the functions set, one per state an operator can put an experiment in
CONDITION_PAUSED = "Paused"
CONDITION_AWAITING_APPROVAL = "AwaitingApproval"
CONDITION_ABORTED = "Aborted"
CONDITION_PROMOTION_FORCED = "PromotionForced"

MAX_REASON = 500  # characters of an abort reason kept in the status and the events
MAX_TIMEOUT = timedelta(days=30)
_DURATION = re.compile(r"(\d{1,9})([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
TimeoutOutcome = Literal["rollback", "promote"]


@dataclass(frozen=True)
class Control:
    """What the operator asked for, read leniently: a value that does not parse asks nothing
    (validation names it; `iter8 pause` and friends never write one)."""

    paused: bool = False
    abort: str | None = None  # the reason, when an abort is asked for
    promote: str | None = None  # the version to promote now
    approval_required: bool = False
    approved: bool = False
    approval_timeout: timedelta | None = None
    timeout_outcome: TimeoutOutcome = "rollback"


def control_of(experiment: Experiment) -> Control:
    notes = experiment.metadata.annotations or {}
    abort = notes.get(ABORT)
    outcome = notes.get(APPROVAL_TIMEOUT_OUTCOME, "rollback")
    return Control(
        paused=_true(notes.get(PAUSED)),
        abort=(abort.strip()[:MAX_REASON] or "aborted") if abort is not None else None,
        promote=notes.get(PROMOTE) or None,
        approval_required=notes.get(APPROVAL) == "required",
        approved=_true(notes.get(APPROVED)),
        approval_timeout=parse_timeout(notes.get(APPROVAL_TIMEOUT)),
        timeout_outcome="promote" if outcome == "promote" else "rollback",
    )


def parse_timeout(text: str | None) -> timedelta | None:
    """`90`, `90s`, `10m`, `2h`, `1d`; None for none or one that does not parse."""
    match = _DURATION.fullmatch((text or "").strip())
    if match is None:
        return None
    return min(timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]]), MAX_TIMEOUT)


# --- what each phase does ------------------------------------------------------------------------


def forced_decision(experiment: Experiment) -> dict[str, Any] | None:
    """The decision an abort or a forced promotion imposes, in the shape analyze records."""
    control = control_of(experiment)
    if control.abort is not None:
        return {"action": "rollback", "reason": f"aborted: {control.abort}", "control": "abort"}
    names = [v.name for v in experiment.versions]
    if control.promote in names:
        return {
            "action": "promote",
            "version": control.promote,
            "reason": f"promotion of {control.promote} forced by an operator",
            "control": "promote",
        }
    return None


RunningStep = Literal["iterate", "pause", "paused", "resume"]


def running_step(experiment: Experiment) -> RunningStep:
    """What analyze does with a Running experiment that has no forced decision."""
    paused = control_of(experiment).paused
    marked = is_true(experiment.status, CONDITION_PAUSED)
    if paused:
        return "paused" if marked else "pause"
    return "resume" if marked else "iterate"


@dataclass(frozen=True)
class Hold:
    """Promotion waits for approval; `until` is when the timeout's outcome applies, if ever."""

    until: datetime | None


def finishing_decision(
    experiment: Experiment, decision: dict[str, Any], now: datetime
) -> dict[str, Any] | Hold:
    """What promote carries out: an operator's abort or promotion, the analysis' decision once the
    gate (if any) is open, or Hold."""
    forced = forced_decision(experiment)
    if forced is not None:
        return forced
    control = control_of(experiment)
    baseline = experiment.versions[0].name if experiment.versions else None
    candidate = decision.get("action") == "promote" and decision.get("version") != baseline
    if not candidate or not control.approval_required or control.approved:
        return decision  # only a candidate's promotion waits: keeping the baseline never does
    until = approval_deadline(experiment)
    if until is None or now < until:
        return Hold(until)
    if control.timeout_outcome == "promote":
        return {
            **decision,
            "reason": f"approval of {decision.get('version')} timed out; promoted, as asked",
            "control": "approval-timeout",
        }
    return {
        "action": "rollback",
        "reason": f"approval of {decision.get('version')} timed out; rolled back",
        "control": "approval-timeout",
    }


def approval_deadline(experiment: Experiment) -> datetime | None:
    """When the gate's wait ends: from the moment it closed (`AwaitingApproval` turned True)."""
    timeout = control_of(experiment).approval_timeout
    status = experiment.status or ExperimentStatus()
    waiting = condition(status, CONDITION_AWAITING_APPROVAL)
    if timeout is None or waiting is None or waiting.status != "True":
        return None
    return parse_time(waiting.last_transition_time or "") + timeout


def needs_finishing(experiment: Experiment, now: datetime) -> bool:
    """Whether the tick should ask promote again about a Finishing experiment: not while it
    waits at the gate with nothing changed (that would be two hops per tick for nothing)."""
    if not is_true(experiment.status, CONDITION_AWAITING_APPROVAL):
        return True
    control = control_of(experiment)
    if control.approved or forced_decision(experiment) is not None:
        return True
    until = approval_deadline(experiment)
    return until is not None and now >= until


def needs_running(experiment: Experiment) -> bool:
    """Whether a Running experiment needs analyze now for control alone (to conclude, or to
    mark a pause or a resume), whether or not an iteration is due."""
    return forced_decision(experiment) is not None or running_step(experiment) in (
        "pause",
        "resume",
    )


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


# --- what an operator's command writes -----------------------------------------------------------

Command = Literal["pause", "resume", "abort", "approve", "promote"]


@dataclass(frozen=True)
class Refused:
    """The command makes no sense for this experiment now; the message says why."""

    message: str


@dataclass(frozen=True)
class Unchanged:
    """Asked already: nothing to write (commands are idempotent)."""

    message: str


def annotations_to_write(
    experiment: Experiment, command: Command, value: str | None = None
) -> dict[str, str | None] | Refused | Unchanged:
    """The annotations `iter8 <command>` writes (None removes one), or why it writes none.
    `value` is the abort's reason or the version to promote."""
    status = experiment.status or ExperimentStatus()
    control = control_of(experiment)
    if status.stage == "Completed" or is_true(status, "Completed"):
        return Refused(f"has completed ({status.message or 'no message'}): nothing to {command}")
    at_gate = is_true(status, CONDITION_AWAITING_APPROVAL)
    finishing = status.stage == "Finishing" and not at_gate
    if command == "pause":
        if control.paused:
            return Unchanged("is paused already")
        if finishing or at_gate:
            return Refused("is finishing: there is no iteration left to pause")
        return {PAUSED: "true"}
    if command == "resume":
        return {PAUSED: None} if control.paused else Unchanged("is not paused")
    if command == "abort":
        if control.abort is not None:
            return Unchanged(f"is being aborted already ({control.abort})")
        if finishing:
            return Refused("is finishing: its outcome is being applied and cannot be aborted")
        return {ABORT: (value or "aborted by an operator").strip()[:MAX_REASON]}
    if command == "approve":
        if not control.approval_required:
            return Refused(
                f'asks for no approval (it would need the annotation {APPROVAL}: "required")'
            )
        return Unchanged("is approved already") if control.approved else {APPROVED: "true"}
    names = [v.name for v in experiment.versions]
    if value not in names:
        return Refused(f"has no version {value!r}: its versions are {', '.join(names)}")
    if control.promote == value:
        return Unchanged(f"is being promoted to {value} already")
    if finishing:
        return Refused("is finishing: its outcome is being applied")
    return {PROMOTE: value}
