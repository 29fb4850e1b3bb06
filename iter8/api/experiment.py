"""The `Experiment` of `iter8.tools/v2alpha2`, field for field as Iter8 v2 defined it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from iter8.api.base import ApiModel, NamedValue, ObjectMeta
from iter8.api.quantity import Quantity

API_VERSION = "iter8.tools/v2alpha2"

# Pareto (an extension; Iter8 v2 had the other four): several rewards, the winner a candidate
# proven to dominate the baseline (`iter8.analytics.bayes.decide`)
TestingPattern = Literal["Canary", "A/B", "A/B/N", "Conformance", "Pareto"]
DeploymentPattern = Literal["Progressive", "FixedSplit", "BlueGreen"]
PreferredDirection = Literal["High", "Low"]
Stage = Literal["Waiting", "Initializing", "Running", "Finishing", "Completed"]
ConditionStatus = Literal["True", "False", "Unknown"]

# Bounds of what a manifest may ask for, so that no accepted value stalls a run: an interval of
# at most a day, at most 10,000 iterations in all (iterationsPerLoop × maxLoops, a rule in
# iter8.validation), weights in percent.
MAX_INTERVAL_SECONDS = 86_400
MAX_ITERATIONS = 10_000


def _integer_as_written(value: object) -> object:
    """Kubernetes' integer fields take numbers only: `true` and `"5"` are not integers."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "must be an integer")
    return value


Integer = Annotated[int, BeforeValidator(_integer_as_written)]
Percent = Field(default=None, ge=0, le=100)


# --- spec --------------------------------------------------------------------------------------


class WeightObjRef(ApiModel):
    """A `corev1.ObjectReference` to the object that holds this version's traffic percentage."""

    api_version: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    field_path: str | None = None


class VersionDetail(ApiModel):
    name: str
    variables: list[NamedValue] | None = None
    weight_obj_ref: WeightObjRef | None = None


class VersionInfo(ApiModel):
    baseline: VersionDetail
    candidates: list[VersionDetail] | None = None


class TaskSpec(ApiModel):
    """One step of an action: a named `task` or a bash `run` script, guarded by `if`."""

    task: str | None = None
    run: str | None = None
    if_: str | None = Field(default=None, alias="if")
    with_: dict[str, Any] | None = Field(default=None, alias="with")


class Weights(ApiModel):
    max_candidate_weight: Integer | None = Percent
    max_candidate_weight_increment: Integer | None = Percent


class Strategy(ApiModel):
    testing_pattern: TestingPattern
    deployment_pattern: DeploymentPattern | None = None
    actions: dict[str, list[TaskSpec]] | None = None
    weights: Weights | None = None


class Reward(ApiModel):
    metric: str
    preferred_direction: PreferredDirection


class Objective(ApiModel):
    metric: str
    upper_limit: Quantity | None = None
    lower_limit: Quantity | None = None
    rollback_on_failure: bool | None = Field(default=None, alias="rollback_on_failure")


class Criteria(ApiModel):
    request_count: str | None = None
    rewards: list[Reward] | None = None
    indicators: list[str] | None = None
    objectives: list[Objective] | None = None
    strength: Any = None


class Duration(ApiModel):
    interval_seconds: Integer | None = Field(default=None, ge=1, le=MAX_INTERVAL_SECONDS)
    iterations_per_loop: Integer | None = Field(default=None, ge=1, le=MAX_ITERATIONS)
    max_loops: Integer | None = Field(default=None, ge=1, le=MAX_ITERATIONS)


class ExperimentSpec(ApiModel):
    target: str  # emptiness is a rule (iter8.validation), so the rest is still checked
    strategy: Strategy
    criteria: Criteria | None = None
    duration: Duration | None = None
    version_info: VersionInfo | None = None


# --- status ------------------------------------------------------------------------------------


class Condition(ApiModel):
    type: str
    status: ConditionStatus
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class VersionWeight(ApiModel):
    name: str
    value: int


class AnalysisBlock(ApiModel):
    """The envelope every `status.analysis.*` block shares in Iter8 v2."""

    provenance: str | None = None
    timestamp: str | None = None
    message: str | None = None
    data: Any = None


class Analysis(ApiModel):
    aggregated_builtin_hists: AnalysisBlock | None = None
    aggregated_metrics: AnalysisBlock | None = None
    version_assessments: AnalysisBlock | None = None
    winner_assessment: AnalysisBlock | None = None
    weights: AnalysisBlock | None = None
    # beyond v2: which iteration this analysis is, what it decided and why (posteriors, history)
    iteration: int | None = None
    decision: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    history: dict[str, Any] | None = None  # one record per iteration (iter8.lifecycle.history)


class InProgress(ApiModel):
    """Beyond v2: who must act next. Written by a phase that takes up work (`by == phase`) or
    hands it on (`by` analyze, `phase` route); repeated events and ticks leave it alone until
    `since` is older than the phase's timeout, when the phase or the event is presumed lost."""

    phase: str
    by: str
    iteration: int = 0
    since: str

    @property
    def working(self) -> bool:
        return self.phase == self.by


class MetricSnapshot(ApiModel):
    """`status.metrics[]`: a copy of a referenced Metric, keyed `<namespace>/<name>`."""

    name: str
    metric_obj: dict[str, Any] | None = None


class ExperimentStatus(ApiModel):
    conditions: list[Condition] | None = None
    init_time: str | None = None
    start_time: str | None = None
    last_update_time: str | None = None
    stage: Stage | None = None
    completed_iterations: int | None = Field(default=None, ge=0)
    current_weight_distribution: list[VersionWeight] | None = None
    analysis: Analysis | None = None
    version_recommended_for_promotion: str | None = None
    message: str | None = None
    metrics: list[MetricSnapshot] | None = None
    in_progress: InProgress | None = None
    # beyond v2: the versions `knative/init-experiment` read from the Service, when the spec has
    # none (v2 patched them into the spec; here the functions write only the status)
    version_info: VersionInfo | None = None


class Experiment(ApiModel):
    api_version: Literal["iter8.tools/v2alpha2"] = API_VERSION
    kind: Literal["Experiment"] = "Experiment"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ExperimentSpec
    status: ExperimentStatus | None = None

    @property
    def namespace(self) -> str:
        """Where the experiment lives; a manifest without one lands in `default`, as with kubectl."""
        return self.metadata.namespace or "default"

    @property
    def versions(self) -> list[VersionDetail]:
        """Baseline first, then candidates in order: the order every Iter8 v2 list follows."""
        info = self.spec.version_info or (self.status.version_info if self.status else None)
        if info is None:
            return []
        return [info.baseline, *(info.candidates or [])]
