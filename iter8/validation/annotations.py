"""Rules on the control annotations (`iter8.lifecycle.control`): a value the functions would
read as asking nothing is named here, before it silently does nothing."""

from __future__ import annotations

from collections.abc import Iterator

from iter8.api.experiment import Experiment
from iter8.lifecycle.control import (
    APPROVAL,
    APPROVAL_TIMEOUT,
    APPROVAL_TIMEOUT_OUTCOME,
    APPROVED,
    PAUSED,
    PROMOTE,
    parse_timeout,
)
from iter8.validation.problems import Problem


def check_annotations(experiment: Experiment) -> Iterator[Problem]:
    notes = experiment.metadata.annotations or {}

    def field(key: str) -> str:
        return f'metadata.annotations["{key}"]'

    for key in (PAUSED, APPROVED):
        if key in notes and notes[key] not in ("true", "false"):
            yield Problem(field(key), 'must be "true" or "false"')
    if notes.get(APPROVAL, "required") != "required":
        yield Problem(field(APPROVAL), 'must be "required" to ask for approval before promotion')
    if APPROVAL_TIMEOUT in notes and parse_timeout(notes[APPROVAL_TIMEOUT]) is None:
        yield Problem(field(APPROVAL_TIMEOUT), "must be seconds, or a number with s, m, h or d")
    if notes.get(APPROVAL_TIMEOUT_OUTCOME, "rollback") not in ("rollback", "promote"):
        yield Problem(field(APPROVAL_TIMEOUT_OUTCOME), "must be rollback or promote")
    names = [v.name for v in experiment.versions]
    if PROMOTE in notes and notes[PROMOTE] not in names:
        yield Problem(field(PROMOTE), f"must name one of the versions ({', '.join(names)})")
