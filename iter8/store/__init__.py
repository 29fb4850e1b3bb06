"""One store interface with Kubernetes API semantics; backends: SQLite and a real API server."""

from iter8.store.base import (
    AlreadyExists,
    Conflict,
    Expired,
    Invalid,
    NotFound,
    PatchType,
    Store,
    StoreError,
    WatchEvent,
)
from iter8.store.resources import EXPERIMENTS, METRICS, SECRETS, Resource

__all__ = [
    "EXPERIMENTS",
    "METRICS",
    "SECRETS",
    "AlreadyExists",
    "Conflict",
    "Expired",
    "Invalid",
    "NotFound",
    "PatchType",
    "Resource",
    "Store",
    "StoreError",
    "WatchEvent",
]
