"""What the bandit reads from an Experiment: its criteria resolved to `ns/name` keys."""

from __future__ import annotations

from dataclasses import dataclass

from iter8.analytics import assessment
from iter8.analytics.bayes.objectives import Limits
from iter8.analytics.bayes.relative import relative_limits
from iter8.api.defaults import rollback_on_failure
from iter8.api.experiment import Experiment


@dataclass(frozen=True)
class Criteria:
    objectives: list[Limits]
    relative: list[Limits]  # candidates against the baseline (`bayes.relative`)
    rewards: list[tuple[str, bool]]  # (key, higher is better)
    request_key: str | None
    keys: list[str]  # every metric the criteria name, resolved


def criteria_of(experiment: Experiment) -> Criteria:
    criteria = experiment.spec.criteria
    pattern = experiment.spec.strategy.deployment_pattern
    objectives = []
    for objective in (criteria.objectives if criteria else None) or []:
        lower, upper = assessment.limits(objective)
        key = assessment.metric_key(objective.metric, experiment)
        objectives.append(Limits(key, lower, upper, rollback_on_failure(objective, pattern)))
    rewards = [
        (assessment.metric_key(r.metric, experiment), r.preferred_direction == "High")
        for r in (criteria.rewards if criteria else None) or []
    ]
    request = criteria.request_count if criteria else None
    request_key = assessment.metric_key(request, experiment) if request else None
    relative = relative_limits(experiment)
    keys = list(dict.fromkeys([*assessment.criteria_keys(experiment), *(r.key for r in relative)]))
    return Criteria(objectives, relative, rewards, request_key, keys)
