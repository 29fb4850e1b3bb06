"""The store contract: Kubernetes API semantics, whatever holds the data.

Objects are plain dicts exactly as the API server returns them (`apiVersion`, `kind`,
`metadata`, `spec`, `status`, ...). Every write returns the stored object with its new
`metadata.resourceVersion`. A precondition on `resourceVersion` that no longer holds raises
`Conflict`; that error is how two replicas of a function agree on who applied an event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

from iter8.store.resources import Resource

Object = dict[str, Any]


class StoreError(Exception):
    """Base of the errors a store raises; `code` is the HTTP status the API server would give."""

    code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(StoreError):
    code = 404


class AlreadyExists(StoreError):
    code = 409


class Conflict(StoreError):
    """A `resourceVersion` precondition failed: someone else wrote first. Re-read and retry."""

    code = 409


class Invalid(StoreError):
    """The request or the object is malformed (bad patch, failing `test` op, bad name)."""

    code = 422


class Expired(StoreError):
    """A watch asked for history the store no longer keeps (HTTP 410 Gone). Re-list and re-watch."""

    code = 410


class PatchType(StrEnum):
    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"


@dataclass(frozen=True)
class WatchEvent:
    type: Literal["ADDED", "MODIFIED", "DELETED"]
    object: Object

    @property
    def resource_version(self) -> str:
        return str(self.object["metadata"]["resourceVersion"])


@runtime_checkable
class Store(Protocol):
    """What every backend offers. `namespace` is ignored for cluster-scoped resources."""

    def get(self, resource: Resource, namespace: str, name: str) -> Object: ...

    def list(self, resource: Resource, namespace: str | None = None) -> tuple[list[Object], str]:
        """All objects (of one namespace, or all) and the list's `resourceVersion` to watch from."""
        ...

    def create(self, resource: Resource, obj: Object) -> Object:
        """Create; `status` is dropped when the resource has a status subresource."""
        ...

    def replace(self, resource: Resource, obj: Object) -> Object:
        """PUT; if `obj.metadata.resourceVersion` is set it is a precondition."""
        ...

    def replace_status(self, resource: Resource, obj: Object) -> Object:
        """PUT `/status`: only `status` changes; a given resourceVersion is a precondition."""
        ...

    def patch(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        patch: Object | list[Object],
        patch_type: PatchType = PatchType.MERGE,
        *,
        resource_version: str | None = None,
        subresource: Literal["", "status"] = "",
    ) -> Object:
        """Merge patch (RFC 7386) or JSON patch (RFC 6902), optionally only if unchanged since
        `resource_version`, on the object or on its `/status`."""
        ...

    def delete(
        self, resource: Resource, namespace: str, name: str, *, resource_version: str | None = None
    ) -> None: ...

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        resource_version: str,
        timeout_seconds: float = 30,
    ) -> Iterator[WatchEvent]:
        """Every change after `resource_version`, in order; ends after `timeout_seconds`."""
        ...

    def close(self) -> None: ...
