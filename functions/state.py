"""Reading and writing an experiment's state, the way every phase must (DESIGN principle 4).

Each handler re-reads the experiment, decides from its status, and writes the status back with a
`resourceVersion` precondition. When two replicas (or a repeated event) race, one write wins and
the other sees `Conflict`, re-reads, and finds the work done: that is what makes delivery
at-least-once yet every iteration applied once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from iter8.api.experiment import Experiment, ExperimentStatus
from iter8.events import ExperimentRef
from iter8.store import EXPERIMENTS, Conflict, NotFound, PatchType, Store

T = TypeVar("T")
CONFLICT_ATTEMPTS = 5


@dataclass(frozen=True)
class Snapshot:
    """An experiment as read: the raw object (for writes) and its resourceVersion.

    `status` is parsed once per snapshot (a handler reads it several times per event) and is
    the handler's to change: a write returns a new snapshot, parsed afresh."""

    raw: dict[str, Any]

    @property
    def ref(self) -> ExperimentRef:
        meta = self.raw["metadata"]
        return ExperimentRef(
            namespace=meta["namespace"], name=meta["name"], uid=meta.get("uid", "")
        )

    @property
    def resource_version(self) -> str:
        return str(self.raw["metadata"]["resourceVersion"])

    @cached_property
    def status(self) -> ExperimentStatus:
        return ExperimentStatus.from_wire(self.raw.get("status") or {})

    def experiment(self) -> Experiment:
        return Experiment.from_wire(self.raw)


def read(store: Store, ref: ExperimentRef) -> Snapshot | None:
    """The experiment, or None if it is gone (or is a new one under the same name)."""
    try:
        raw = store.get(EXPERIMENTS, ref.namespace, ref.name)
    except NotFound:
        return None
    if ref.uid and raw["metadata"].get("uid") != ref.uid:
        return None
    return Snapshot(raw)


def write_status(store: Store, snapshot: Snapshot, status: ExperimentStatus) -> Snapshot:
    """Replace the status if nobody wrote since `snapshot`; raises Conflict otherwise."""
    raw = dict(snapshot.raw)
    raw["status"] = status.model_dump(
        mode="json", by_alias=True, exclude_unset=True, exclude_none=True
    )
    stored = store.replace_status(EXPERIMENTS, raw)
    return Snapshot(stored)


def patch_status(store: Store, snapshot: Snapshot, patch: dict[str, Any]) -> Snapshot:
    """Merge-patch the status if nobody wrote since `snapshot`; raises Conflict otherwise."""
    ref = snapshot.ref
    stored = store.patch(
        EXPERIMENTS,
        ref.namespace,
        ref.name,
        {"status": patch},
        PatchType.MERGE,
        resource_version=snapshot.resource_version,
        subresource="status",
    )
    return Snapshot(stored)


def retry_on_conflict(attempt: Callable[[], T]) -> T:
    """Run `attempt` again (it re-reads) while someone else's write got there first."""
    for _ in range(CONFLICT_ATTEMPTS - 1):
        try:
            return attempt()
        except Conflict:
            continue
    return attempt()
