"""SMI TrafficSplit backend weights: `.spec.backends[i].weight` (Linkerd, Open Service Mesh).

v1alpha1 wrote weights as Kubernetes quantities, so a whole-number string ("50") reads as 50;
a fractional quantity ("500m") is refused rather than rounded.
"""

from __future__ import annotations

from typing import ClassVar

from iter8.routing.fieldpath import Key
from iter8.routing.router import FieldRouter, RoutingError, group_of


class SmiRouter(FieldRouter):
    name: ClassVar[str] = "smi"
    priority: ClassVar[int] = 10

    def matches(self, api_version: str, kind: str) -> bool:
        return group_of(api_version) == "split.smi-spec.io" and kind == "TrafficSplit"

    def check_path(self, keys: tuple[Key, ...], field_path: str) -> None:
        if not (
            len(keys) == 4
            and keys[:2] == ("spec", "backends")
            and isinstance(keys[2], int)
            and keys[3] == "weight"
        ):
            raise RoutingError(
                f"fieldPath {field_path!r}: an SMI backend weight is at .spec.backends[<i>].weight"
            )

    def as_int(self, value: object, keys: tuple[Key, ...]) -> int:
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return super().as_int(value, keys)


ROUTER = SmiRouter()
