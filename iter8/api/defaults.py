"""Iter8 v2's defaults, applied in this one place (iter8-v2.md §1.1).

Like the v2 controller, defaults are applied to a copy in memory and never written back into the
user's spec, so `kubectl get -o yaml` keeps showing what the user wrote.
"""

from __future__ import annotations

from iter8.api.experiment import Duration, Experiment, Objective, Weights

DEPLOYMENT_PATTERN = "Progressive"
MAX_CANDIDATE_WEIGHT = 100
MAX_CANDIDATE_WEIGHT_INCREMENT = 10
INTERVAL_SECONDS = 20
ITERATIONS_PER_LOOP = 15
MAX_LOOPS = 1


def with_defaults(experiment: Experiment) -> Experiment:
    """A copy of `experiment` with every defaulted field filled in."""
    result = experiment.model_copy(deep=True)
    spec = result.spec
    strategy = spec.strategy
    if strategy.deployment_pattern is None:
        strategy.deployment_pattern = DEPLOYMENT_PATTERN
    if strategy.weights is None:
        strategy.weights = Weights()
    if strategy.weights.max_candidate_weight is None:
        strategy.weights.max_candidate_weight = MAX_CANDIDATE_WEIGHT
    if strategy.weights.max_candidate_weight_increment is None:
        strategy.weights.max_candidate_weight_increment = MAX_CANDIDATE_WEIGHT_INCREMENT
    if spec.duration is None:
        spec.duration = Duration()
    duration = spec.duration
    if duration.interval_seconds is None:
        duration.interval_seconds = INTERVAL_SECONDS
    if duration.iterations_per_loop is None:
        duration.iterations_per_loop = ITERATIONS_PER_LOOP
    if duration.max_loops is None:
        duration.max_loops = MAX_LOOPS
    objectives = (spec.criteria.objectives if spec.criteria else None) or []
    for objective in objectives:
        if objective.rollback_on_failure is None:
            objective.rollback_on_failure = rollback_on_failure(
                objective, strategy.deployment_pattern
            )
    return result


def defaulted_view(experiment: Experiment) -> Experiment:
    """`with_defaults` for a reader: the spec defaulted on a copy, the status shared with
    `experiment` rather than deep-copied (it holds the analysis and its history: most of the
    copy's time); no copy at all when every default is in place already (as the analyze
    function hands it over): then it is `experiment` itself. Whoever changes the result
    changes `experiment`."""
    if _defaulted(experiment):
        return experiment
    bare = with_defaults(experiment.model_copy(update={"status": None}))
    return bare.model_copy(update={"status": experiment.status})


def _defaulted(experiment: Experiment) -> bool:
    """Whether every field `with_defaults` fills in is set."""
    spec = experiment.spec
    strategy, duration = spec.strategy, spec.duration
    objectives = (spec.criteria.objectives if spec.criteria else None) or []
    return (
        strategy.deployment_pattern is not None
        and strategy.weights is not None
        and strategy.weights.max_candidate_weight is not None
        and strategy.weights.max_candidate_weight_increment is not None
        and duration is not None
        and duration.interval_seconds is not None
        and duration.iterations_per_loop is not None
        and duration.max_loops is not None
        and all(o.rollback_on_failure is not None for o in objectives)
    )


def rollback_on_failure(objective: Objective, deployment_pattern: str | None) -> bool:
    """The objective's effective flag: true by default only for BlueGreen (v2's only use of it)."""
    if objective.rollback_on_failure is not None:
        return objective.rollback_on_failure
    return deployment_pattern == "BlueGreen"


def duration_with_defaults(experiment: Experiment) -> Duration:
    """`spec.duration` with its defaults, as `with_defaults` fills them in, without copying the
    experiment: the tick asks this of every experiment every second."""
    given = experiment.spec.duration or Duration()
    return Duration(
        interval_seconds=_given(given.interval_seconds, INTERVAL_SECONDS),
        iterations_per_loop=_given(given.iterations_per_loop, ITERATIONS_PER_LOOP),
        max_loops=_given(given.max_loops, MAX_LOOPS),
    )


def _given(value: int | None, default: int) -> int:
    return default if value is None else value


def max_iterations(experiment: Experiment) -> int:
    """How many iterations the experiment runs at most: `iterationsPerLoop × maxLoops`."""
    duration = duration_with_defaults(experiment)
    assert duration.iterations_per_loop and duration.max_loops
    return duration.iterations_per_loop * duration.max_loops
