"""Rules on `spec.criteria`: rewards per testing pattern, objective limits, metrics that resolve."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from iter8.api.experiment import Experiment
from iter8.api.metric import Metric
from iter8.api.quantity import parse_quantity
from iter8.api.references import MetricKey, is_well_formed, resolve
from iter8.validation.metrics import metric_secret, secret_problem
from iter8.validation.problems import Problem

# (fewest, most) rewards per testing pattern; Pareto weighs several at once, none first
REWARDS_ALLOWED: dict[str, tuple[int, int | None]] = {
    "Conformance": (0, 0),
    "Canary": (0, 0),
    "A/B": (1, 1),
    "A/B/N": (1, 1),
    "Pareto": (2, None),
}


def check_criteria(
    experiment: Experiment, catalog: Mapping[MetricKey, Metric]
) -> Iterator[Problem]:
    criteria = experiment.spec.criteria
    pattern = experiment.spec.strategy.testing_pattern
    rewards = (criteria.rewards if criteria else None) or []
    low, high = REWARDS_ALLOWED[pattern]
    if len(rewards) < low or (high is not None and len(rewards) > high):
        wanted = f"exactly {low}" if low == high else f"at least {low}"
        yield Problem(
            "spec.criteria.rewards",
            f"a {pattern} experiment needs {wanted} reward(s), found {len(rewards)}",
        )
    if criteria is None:
        return
    for index, objective in enumerate(criteria.objectives or []):
        path = f"spec.criteria.objectives[{index}]"
        if objective.upper_limit is None and objective.lower_limit is None:
            yield Problem(path, "needs an upperLimit, a lowerLimit, or both")
        elif objective.upper_limit is not None and objective.lower_limit is not None:
            lower, upper = (
                parse_quantity(objective.lower_limit),
                parse_quantity(objective.upper_limit),
            )
            if lower > upper:
                yield Problem(
                    f"{path}.lowerLimit",
                    f"{objective.lower_limit} is above upperLimit {objective.upper_limit}",
                )
    for path, reference in metric_references(experiment):
        yield from check_reference(path, reference, experiment.namespace, catalog)


def metric_references(experiment: Experiment) -> list[tuple[str, str]]:
    """Every metric the criteria name, with the field that names it."""
    criteria = experiment.spec.criteria
    if criteria is None:
        return []
    found: list[tuple[str, str]] = []
    if criteria.request_count is not None:
        found.append(("spec.criteria.requestCount", criteria.request_count))
    found += [
        (f"spec.criteria.rewards[{i}].metric", r.metric)
        for i, r in enumerate(criteria.rewards or [])
    ]
    found += [
        (f"spec.criteria.indicators[{i}]", m) for i, m in enumerate(criteria.indicators or [])
    ]
    found += [
        (f"spec.criteria.objectives[{i}].metric", o.metric)
        for i, o in enumerate(criteria.objectives or [])
    ]
    return found


def check_reference(
    path: str, reference: str, namespace: str, catalog: Mapping[MetricKey, Metric]
) -> Iterator[Problem]:
    """The reference is well formed, names a known Metric, and so does that Metric's sampleSize."""
    if not is_well_formed(reference):
        yield Problem(
            path, f"{reference!r} is not a metric reference: use 'namespace/name' or 'name'"
        )
        return
    key = resolve(reference, namespace)
    metric = catalog.get(key)
    if metric is None:
        hint = ""
        if "/" not in reference:
            hint = f" (a bare name means the experiment's namespace {namespace!r})"
        yield Problem(path, f"metric {key} not found{hint}")
        return
    secret = metric_secret(metric)
    problem = secret_problem(secret, namespace, "the experiment's") if secret else None
    if problem:
        yield Problem(path, f"metric {key}: {problem}")
    sample_size = metric.spec.sample_size
    if sample_size and is_well_formed(sample_size):
        sample_key = resolve(sample_size, metric.namespace)
        if sample_key not in catalog:
            yield Problem(path, f"metric {key} has sampleSize {sample_key}, which is not found")
