"""Every rule of an experiment (or metric) at once: the checks of each part, in one list."""

from __future__ import annotations

from collections.abc import Mapping

from iter8.api.experiment import Experiment
from iter8.api.metric import Metric
from iter8.api.references import MetricKey
from iter8.validation.actions import check_actions
from iter8.validation.annotations import check_annotations
from iter8.validation.criteria import check_criteria
from iter8.validation.duration import check_duration
from iter8.validation.metadata import check_metadata
from iter8.validation.metrics import check_metric
from iter8.validation.problems import Problem
from iter8.validation.versions import check_versions


def validate_experiment(
    experiment: Experiment, catalog: Mapping[MetricKey, Metric]
) -> list[Problem]:
    """All problems of a loaded experiment; `catalog` holds every Metric it may refer to."""
    return [
        *check_metadata(experiment.metadata),
        *check_annotations(experiment),
        *check_duration(experiment),
        *check_versions(experiment),
        *check_criteria(experiment, catalog),
        *check_actions(experiment),
    ]


def validate_metric(metric: Metric) -> list[Problem]:
    return [*check_metadata(metric.metadata), *check_metric(metric)]
