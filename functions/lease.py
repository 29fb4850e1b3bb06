"""The target lock as a `coordination.k8s.io/v1` Lease: one active experiment per target.

The order of admission (earliest `initTime` first) is decided in `iter8.lifecycle.target`; the
Lease makes it safe when two replicas admit two experiments for one target at the same moment:
`create` succeeds for exactly one of them. A Lease whose holder is gone or finished is taken
over, so a crash never leaves a target locked.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from iter8.events import ExperimentRef
from iter8.store import AlreadyExists, Conflict, NotFound, Store
from iter8.store.resources import LEASES

HolderAlive = Callable[[ExperimentRef], bool]


def lease_namespace() -> str:
    return os.environ.get("ITER8_NAMESPACE", "iter8-system")


def lease_name(target: str) -> str:
    """Targets are free-form (`default/app`, `flowers`); a digest makes a valid object name."""
    return "iter8-target-" + hashlib.sha256(target.encode()).hexdigest()[:24]


def _identity(holder: ExperimentRef) -> str:
    return f"{holder.namespace}/{holder.name}/{holder.uid}"


def _holder_of(identity: str) -> ExperimentRef | None:
    parts = identity.split("/")
    if len(parts) != 3:
        return None
    try:
        return ExperimentRef(namespace=parts[0], name=parts[1], uid=parts[2])
    except ValidationError:  # not written by us: nobody we know holds it
        return None


def acquire(store: Store, target: str, holder: ExperimentRef, alive: HolderAlive) -> bool:
    """True if `holder` now holds `target` (or already did)."""
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": lease_name(target), "namespace": lease_namespace()},
        "spec": {"holderIdentity": _identity(holder)},
    }
    for _ in range(3):
        try:
            store.create(LEASES, lease)
            return True
        except AlreadyExists:
            pass
        try:
            current = store.get(LEASES, lease_namespace(), lease_name(target))
        except NotFound:
            continue  # released in between: try to create again
        identity = (current.get("spec") or {}).get("holderIdentity", "")
        if identity == _identity(holder):
            return True
        previous = _holder_of(identity)
        if previous is not None and alive(previous):
            return False
        _delete(store, current)  # the holder is gone or finished: take the lease over
    return False


def release(store: Store, target: str, holder: ExperimentRef) -> None:
    """Free `target` if `holder` holds it; anything else is left alone."""
    try:
        current = store.get(LEASES, lease_namespace(), lease_name(target))
    except NotFound:
        return
    if (current.get("spec") or {}).get("holderIdentity") == _identity(holder):
        _delete(store, current)


def _delete(store: Store, lease: dict[str, Any]) -> None:
    """Delete exactly the lease that was read; if it changed meanwhile, someone else owns it."""
    meta = lease["metadata"]
    with contextlib.suppress(NotFound, Conflict):
        store.delete(
            LEASES, meta["namespace"], meta["name"], resource_version=str(meta["resourceVersion"])
        )
