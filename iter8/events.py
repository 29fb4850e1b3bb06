"""The event contract of DESIGN.md: types, attributes, extensions and data of every event.

Everything that produces or reads an Iter8 event goes through here, so the contract has one home:
`source` is `/iter8/<phase>`, `subject` is `<namespace>/<name>`, extensions `experiment` and
`iteration` let Triggers and sinks filter, and `data` carries at least namespace, name, uid and
iteration.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from cloudevents.http import CloudEvent
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from iter8.api.names import is_label, is_subdomain, not_a_label, not_a_subdomain


class EventType(StrEnum):
    RESOURCE_ADD = "dev.knative.apiserver.resource.add"
    REF_ADD = "dev.knative.apiserver.ref.add"
    PING = "dev.knative.sources.ping"
    INITIALIZATION_DUE = "tools.iter8.initialization.due"  # tick → init: (re)admit a waiting one
    INITIALIZED = "tools.iter8.experiment.initialized"
    ITERATION_DUE = "tools.iter8.iteration.due"
    ANALYSIS_COMPLETED = "tools.iter8.analysis.completed"
    CONCLUDED = "tools.iter8.experiment.concluded"
    WEIGHTS_APPLIED = "tools.iter8.weights.applied"
    PROMOTED = "tools.iter8.experiment.promoted"
    ROLLED_BACK = "tools.iter8.experiment.rolledback"
    COMPLETED = "tools.iter8.experiment.completed"
    FAILED = "tools.iter8.experiment.failed"
    # an operator's control (iter8.lifecycle.control), for the sinks
    PAUSED = "tools.iter8.experiment.paused"
    RESUMED = "tools.iter8.experiment.resumed"
    AWAITING_APPROVAL = "tools.iter8.experiment.awaitingapproval"
    ABORTED = "tools.iter8.experiment.aborted"


TERMINAL = (
    EventType.PROMOTED,
    EventType.ROLLED_BACK,
    EventType.COMPLETED,
    EventType.FAILED,
    EventType.ABORTED,
)


DataModel = TypeVar("DataModel", bound=BaseModel)


class BadEvent(ValueError):
    """The event is wrong and will stay wrong: answer 4xx, do not retry."""


MAX_UID_LENGTH = 128  # the API server's are 36-character UUIDs
MAX_ITERATION = 2**31 - 1  # an int32, as the CRDs' iteration counts are


class ExperimentRef(BaseModel):
    """Which experiment an event is about. `uid` tells a re-created experiment from the old one.

    Names as the API server allows them: an event naming anything else is refused (400, the
    field named) before any store is asked for it."""

    model_config = ConfigDict(frozen=True)

    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    uid: str = Field(default="", max_length=MAX_UID_LENGTH)

    @field_validator("namespace")
    @classmethod
    def _namespace_is_a_label(cls, namespace: str) -> str:
        if not is_label(namespace):
            raise PydanticCustomError("namespace", not_a_label(namespace))
        return namespace

    @field_validator("name")
    @classmethod
    def _name_is_a_subdomain(cls, name: str) -> str:
        if not is_subdomain(name):
            raise PydanticCustomError("name", not_a_subdomain(name))
        return name

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class EventData(ExperimentRef):
    """`data` of every `tools.iter8.*` event; phases add their own fields beside these."""

    model_config = ConfigDict(frozen=True, extra="allow")

    iteration: int = Field(default=0, ge=0, le=MAX_ITERATION)


def experiment_event(
    event_type: EventType,
    phase: str,
    experiment: ExperimentRef,
    iteration: int,
    **data: Any,
) -> CloudEvent:
    """A new `tools.iter8.*` event about `experiment`, ready to reply with or POST."""
    attributes = {
        "type": str(event_type),
        "source": f"/iter8/{phase}",
        "subject": str(experiment),
        "datacontenttype": "application/json",
        "experiment": str(experiment),
        "iteration": str(iteration),  # header values are strings; Trigger filters compare strings
    }
    payload = {**data, **experiment.model_dump(), "iteration": iteration}
    return CloudEvent(attributes, payload)


def created_experiment(event: CloudEvent) -> ExperimentRef | None:
    """Which experiment an ApiServerSource `add` event (resource or reference mode) announces;
    None for other kinds."""
    data = event.data
    if not isinstance(data, dict):
        raise BadEvent("data must be a JSON object: the object, or a reference to it")
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else data
    if data.get("kind") != "Experiment":
        return None
    try:
        return ExperimentRef(
            namespace=meta.get("namespace") or "",
            name=meta.get("name") or "",
            uid=meta.get("uid") or "",
        )
    except ValidationError as error:
        raise BadEvent(f"data names no experiment: {error.errors()[0]['msg']}") from error


MAX_TICK_AHEAD_SECONDS = (
    60.0  # a tick holds its request at most this long (analyze's Trigger timeout: 5 min)
)


class TickData(BaseModel):
    """`data` of a PingSource tick (eventing/config/sources.yaml). `aheadSeconds`: the tick
    also asks for the iterations falling due within that many seconds, each at its due time,
    holding its request until the last; set a little under the tick's period, an iteration runs
    when it is due rather than at the first tick after."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    ahead_seconds: float = Field(
        default=0, ge=0, le=MAX_TICK_AHEAD_SECONDS, allow_inf_nan=False, alias="aheadSeconds"
    )
    # the tick is answered once planned, and its POSTs leave from a thread of their own: for a
    # broker that answers the PingSource only after every chain the tick started (the embedded
    # stack's synchronous one); never on Knative, which may take a function's CPU away once it
    # has answered
    detach: bool = Field(default=False, strict=True)


def tick_data(event: CloudEvent) -> TickData:
    """A tick's options; a tick whose data is not a JSON object (PingSource's data is free
    text) has none, one whose options are wrong is a BadEvent naming the field."""
    data = event.data
    return _validated(TickData, data) if isinstance(data, dict) else TickData()


def event_data(event: CloudEvent) -> EventData:
    """The experiment an Iter8 event is about, or BadEvent naming what is missing."""
    data = event.data
    if isinstance(data, bytes | str):
        raise BadEvent("data must be a JSON object (datacontenttype application/json)")
    return _validated(EventData, data)


def _validated(model: type[DataModel], data: Any) -> DataModel:
    """`data` as `model`, or a BadEvent naming its first wrong field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "data"
        raise BadEvent(f"data.{field}: {first['msg']}") from error
