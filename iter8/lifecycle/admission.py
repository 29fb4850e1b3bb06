"""Admitting a new experiment (the init phase's decisions): valid? metrics known? target free?

Iter8 v2 found an invalid experiment only when it reached Running; here it is refused at once,
with every problem named, and ends `Completed` with `Failed=True`, reason `InvalidExperiment`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from iter8.api.defaults import with_defaults
from iter8.api.experiment import Experiment, MetricSnapshot
from iter8.api.metric import Metric
from iter8.api.references import MetricKey, is_well_formed, resolve
from iter8.lifecycle.target import holder, may_acquire
from iter8.validation.criteria import metric_references
from iter8.validation.loading import load_lenient
from iter8.validation.problems import Problem
from iter8.validation.rules import validate_experiment


@dataclass(frozen=True)
class Refused:
    reason: str  # InvalidExperiment | MetricUnavailable
    message: str


@dataclass(frozen=True)
class Waiting:
    behind: str | None  # `ns/name` of the experiment holding the target, if one does


@dataclass(frozen=True)
class Admitted:
    experiment: Experiment  # with defaults applied
    metrics: list[MetricSnapshot]  # every metric the criteria name, and their sampleSize metrics


def check(data: Mapping[str, Any], catalog: Mapping[MetricKey, Metric]) -> Experiment | Refused:
    """The experiment with defaults, or why it is refused (every problem, each with its field)."""
    experiment, problems = load_lenient(Experiment, dict(data))
    if experiment is not None:
        problems = problems + [
            p for p in validate_experiment(experiment, catalog) if p not in problems
        ]
    if problems or experiment is None:
        return Refused("InvalidExperiment", _summary(problems or [Problem("spec", "is invalid")]))
    return with_defaults(experiment)


def admit(
    experiment: Experiment, others: Iterable[Experiment], catalog: Mapping[MetricKey, Metric]
) -> Admitted | Waiting:
    others = list(others)
    if not may_acquire(experiment, others):
        found = holder(experiment.spec.target, others)
        return Waiting(f"{found.namespace}/{found.metadata.name}" if found else None)
    return Admitted(experiment, snapshot_metrics(experiment, catalog))


def snapshot_metrics(
    experiment: Experiment, catalog: Mapping[MetricKey, Metric]
) -> list[MetricSnapshot]:
    """`status.metrics` as v2 kept it: a copy of each Metric, keyed `ns/name`, taken once."""
    keys: list[MetricKey] = []
    for _, reference in metric_references(experiment):
        key = resolve(reference, experiment.namespace)
        keys.append(key)
        sample_size = catalog[key].spec.sample_size
        if sample_size and is_well_formed(sample_size):
            keys.append(resolve(sample_size, catalog[key].namespace))
    return [
        MetricSnapshot(name=str(key), metric_obj=catalog[key].to_wire())
        for key in dict.fromkeys(keys)
    ]


def _summary(problems: list[Problem]) -> str:
    return "; ".join(str(problem) for problem in problems)
