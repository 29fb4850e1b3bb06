"""When is an experiment's next iteration due, and when has its chain of events stalled?

Level-triggered (DESIGN principle 4): the periodic tick asks these questions of every Running
experiment, so a lost event delays an iteration by at most one tick plus the grace period.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from iter8.api.defaults import duration_with_defaults, max_iterations
from iter8.api.experiment import Experiment
from iter8.lifecycle.status import parse_time

# Iter8 v2 allowed an iteration 100 ms early (§4 step 12.3), so a tick a little early still counts.
EARLY_TOLERANCE = timedelta(milliseconds=100)


def interval(experiment: Experiment) -> timedelta:
    seconds = duration_with_defaults(experiment).interval_seconds
    assert seconds is not None
    return timedelta(seconds=seconds)


def next_due(experiment: Experiment) -> datetime | None:
    """When the next iteration should run; None unless Running with iterations left."""
    status = experiment.status
    if status is None or status.stage != "Running" or status.last_update_time is None:
        return None
    if (status.completed_iterations or 0) >= max_iterations(experiment):
        return None
    if (status.completed_iterations or 0) == 0:
        return parse_time(status.last_update_time)  # the first iteration runs at once
    return parse_time(status.last_update_time) + interval(experiment)


def is_due(experiment: Experiment, now: datetime) -> bool:
    due = next_due(experiment)
    return due is not None and now + EARLY_TOLERANCE >= due


def is_stalled(experiment: Experiment, now: datetime, grace: timedelta) -> bool:
    """No progress for longer than an interval plus `grace`: a chain broke somewhere."""
    status = experiment.status
    if status is None or status.stage in (None, "Completed", "Waiting"):
        return False
    if status.last_update_time is None:
        return True
    return now - parse_time(status.last_update_time) > interval(experiment) + grace
