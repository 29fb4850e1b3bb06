"""The Router seam: how the weights of versions are written into one kind of routing object.

A router is a module-level `ROUTER` in `iter8/routing/routers/`. For each routed object the
matching router with the highest `priority` is used, so the generic one (priority 0, matches
everything) is the fallback. Routers only plan: they turn an object and the wanted weights into
JSON patch operations and read weights back; the applier does the I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from iter8.routing.fieldpath import FieldPathError, Key, format_path, lookup, parse, to_pointer

Object = dict[str, Any]
Operation = dict[str, Any]  # one RFC 6902 operation


class RoutingError(ValueError):
    """The weights cannot be applied or read as asked, and retrying will not change that."""


class NotReady(RoutingError):
    """The routed object cannot take more traffic for a version yet (its controller says the
    version is not ready). Nothing was written: an iteration keeps the split in force and a later
    one may move it; an ending, which cannot wait, treats it as any RoutingError."""


@dataclass(frozen=True)
class WeightTarget:
    """One version's traffic field inside a routed object."""

    version: str
    field_path: str


@runtime_checkable
class Router(Protocol):
    name: ClassVar[str]
    priority: ClassVar[int]

    def matches(self, api_version: str, kind: str) -> bool: ...

    def plan(
        self, obj: Object, targets: Sequence[WeightTarget], weights: Mapping[str, int]
    ) -> list[Operation]:
        """The operations that give each target its version's weight; unchanged fields get none."""
        ...

    def read(self, obj: Object, field_path: str) -> int: ...

    def prepare(self, obj: Object, targets: Sequence[WeightTarget]) -> list[Operation]:
        """The operations that add what the experiment needs in the object while it runs (a
        Knative tag per version), applied at the start and with each iteration's weights."""
        ...

    def finish(
        self, obj: Object, targets: Sequence[WeightTarget], candidates: Collection[str]
    ) -> list[Operation]:
        """The operations that remove what the experiment's traffic shaping left in the object
        (a mirror, a test route to a candidate, the tags it added), applied with the final
        weights."""
        ...


def check_weight(version: str, weight: object) -> int:
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
        raise RoutingError(
            f"weight of version {version!r} must be an integer 0..100, not {weight!r}"
        )
    return weight


class FieldRouter:
    """A router that writes integers at field paths; subclasses restrict the paths they accept
    (`check_path`), say what a missing field means (`missing`) and check the result (`check`)."""

    name: ClassVar[str] = "field"
    priority: ClassVar[int] = 0
    missing: ClassVar[int | None] = None  # the value of an absent field; None: absent is an error

    def matches(self, api_version: str, kind: str) -> bool:
        return True

    def check_path(self, keys: tuple[Key, ...], field_path: str) -> None:
        """Refuse a path that cannot hold a weight in this kind of object."""

    def check(self, new: Object) -> None:
        """Refuse an object that the weights would leave invalid."""

    def check_change(self, old: Object, new: Object) -> None:
        """Refuse a change of weights that the object's state does not allow yet."""

    def prepare(self, obj: Object, targets: Sequence[WeightTarget]) -> list[Operation]:
        return []

    def finish(
        self, obj: Object, targets: Sequence[WeightTarget], candidates: Collection[str]
    ) -> list[Operation]:
        return []

    def keys(self, field_path: str) -> tuple[Key, ...]:
        try:
            keys = parse(field_path)
        except FieldPathError as error:
            raise RoutingError(str(error)) from None
        self.check_path(keys, field_path)
        return keys

    def read(self, obj: Object, field_path: str) -> int:
        keys = self.keys(field_path)
        parent = self._parent(obj, keys)
        value = _child(parent, keys[-1])
        if value is None and self.missing is not None:
            return self.missing
        return self.as_int(value, keys)

    def as_int(self, value: object, keys: tuple[Key, ...]) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            shown = "nothing" if value is None else repr(value)
            raise RoutingError(f"{format_path(keys)} holds {shown}, not an integer weight")
        return value

    def plan(
        self, obj: Object, targets: Sequence[WeightTarget], weights: Mapping[str, int]
    ) -> list[Operation]:
        new = copy.deepcopy(obj)
        operations: list[Operation] = []
        owners: dict[str, str] = {}
        for target in targets:
            if target.version not in weights:
                raise RoutingError(f"no weight for version {target.version!r}")
            weight = check_weight(target.version, weights[target.version])
            keys = self.keys(target.field_path)
            pointer = to_pointer(keys)
            if pointer in owners:
                raise RoutingError(
                    f"versions {owners[pointer]!r} and {target.version!r} both route through "
                    f"{format_path(keys)}"
                )
            owners[pointer] = target.version
            parent, last = self._parent(new, keys), keys[-1]
            current = _child(parent, last)
            if current is None and self.missing is not None:
                current = self.missing
            elif current is not None:
                current = self.as_int(current, keys)
            if current == weight:
                continue
            present = isinstance(parent, list) or last in parent
            operations.append(
                {"op": "replace" if present else "add", "path": pointer, "value": weight}
            )
            parent[last] = weight
        self.check(new)
        if operations:
            self.check_change(obj, new)
        return operations

    def _parent(self, obj: Object, keys: tuple[Key, ...]) -> Any:
        """The container of the weight field; it must exist, the field itself need not."""
        try:
            parent = lookup(obj, keys[:-1])
        except FieldPathError as error:
            raise RoutingError(str(error)) from None
        if isinstance(keys[-1], int):
            if not isinstance(parent, list) or keys[-1] >= len(parent):
                raise RoutingError(f"{format_path(keys)} does not exist")
        elif not isinstance(parent, dict):
            raise RoutingError(f"{format_path(keys[:-1])} is not an object")
        return parent


def _child(parent: Any, key: Key) -> Any:
    """The value under `key`, None if a mapping lacks it (`_parent` checked list bounds)."""
    if isinstance(parent, list) and isinstance(key, int):
        return parent[key]
    return parent.get(key)


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]
