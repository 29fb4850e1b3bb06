"""One active experiment per `spec.target`; the others wait, earliest `initTime` first (§4 step 6)."""

from __future__ import annotations

from collections.abc import Iterable

from iter8.api.experiment import Experiment
from iter8.lifecycle.status import TARGET_ACQUIRED, is_completed, is_true


def holder(target: str, experiments: Iterable[Experiment]) -> Experiment | None:
    """The unfinished experiment that holds `target`, if any."""
    return next(
        (
            e
            for e in experiments
            if e.spec.target == target
            and not is_completed(e.status)
            and is_true(e.status, TARGET_ACQUIRED)
        ),
        None,
    )


def may_acquire(me: Experiment, experiments: Iterable[Experiment]) -> bool:
    """True if `me` may take its target now: nobody else holds it, and no unfinished contender
    came earlier (by `initTime`, then namespace/name, so the order is total)."""
    others = [e for e in experiments if _key(e) != _key(me)]
    if holder(me.spec.target, others) is not None:
        return False
    contenders = [
        e for e in others if e.spec.target == me.spec.target and not is_completed(e.status)
    ]
    return all(_order(me) < _order(e) for e in contenders)


def _key(experiment: Experiment) -> tuple[str, str]:
    return experiment.namespace, experiment.metadata.name or ""


def _order(experiment: Experiment) -> tuple[str, str, str]:
    init = (experiment.status.init_time if experiment.status else None) or "9999"
    return (init, *_key(experiment))
