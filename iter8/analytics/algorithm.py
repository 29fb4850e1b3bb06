"""The seam between the analyze function and the statistics: one Protocol, many algorithms.

An algorithm is a pure function of its input (experiment, metric definitions, observations,
seed): no clock, no I/O, and the same seed gives the same weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, Field

from iter8.analytics.observations import Observations
from iter8.api.experiment import Experiment, VersionWeight
from iter8.api.metric import Metric

Action = Literal["continue", "promote", "rollback", "no-winner"]


@dataclass(frozen=True)
class AnalysisInput:
    experiment: Experiment  # defaults applied; its status may hold weights and earlier analysis
    metrics: Mapping[str, Metric]  # `namespace/name` → Metric, every metric the criteria name
    observations: Observations  # this iteration's fetch, per metric key and version
    seed: int = 0
    # seconds since the experiment started, as the queries' `$elapsedTime` had it; None: unknown
    elapsed_seconds: float | None = None


class Decision(BaseModel):
    action: Action
    version: str | None = None  # the version to promote (promote), or to keep (rollback)
    reason: str  # in words and numbers: why, so a user can check it


class WinnerAssessment(BaseModel):
    winner_found: bool = Field(alias="winnerFound")
    winner: str | None = None
    best_versions: list[str] = Field(default_factory=list, alias="bestVersions")

    model_config = {"populate_by_name": True}


class AnalysisResult(BaseModel):
    """One analysis step, in Iter8 v2's status shapes plus what the algorithm adds."""

    aggregated_metrics: dict[str, Any]  # v2 `aggregatedMetrics.data`
    version_assessments: dict[str, list[bool]]  # v2 `versionAssessments.data`
    winner_assessment: WinnerAssessment
    weights: list[VersionWeight]  # v2 `weights.data`; empty where weights do not apply
    decision: Decision
    details: dict[str, Any] = Field(default_factory=dict)  # posteriors, P(best), history...
    message: str = ""
    # v2 gives each status.analysis block its own message; keys are the block names
    # (`aggregatedMetrics`, `versionAssessments`, `winnerAssessment`, `weights`)
    messages: dict[str, str] = Field(default_factory=dict)


class Algorithm(Protocol):
    name: ClassVar[str]

    def analyze(self, given: AnalysisInput) -> AnalysisResult: ...
