"""Istio VirtualService route weights: `.spec.http[i].route[j].weight` (also `tcp`/`tls`).

Istio weights are relative (a destination gets weight/Σweights), so unlike Knative no sum is
enforced; a missing weight is refused on read because Istio's meaning of it depends on how many
destinations the route has.
"""

from __future__ import annotations

from typing import ClassVar

from iter8.routing.fieldpath import Key
from iter8.routing.router import FieldRouter, RoutingError, group_of


class IstioRouter(FieldRouter):
    name: ClassVar[str] = "istio"
    priority: ClassVar[int] = 10

    def matches(self, api_version: str, kind: str) -> bool:
        return group_of(api_version) == "networking.istio.io" and kind == "VirtualService"

    def check_path(self, keys: tuple[Key, ...], field_path: str) -> None:
        if not (
            len(keys) == 6
            and keys[0] == "spec"
            and keys[1] in ("http", "tcp", "tls")
            and isinstance(keys[2], int)
            and keys[3] == "route"
            and isinstance(keys[4], int)
            and keys[5] == "weight"
        ):
            raise RoutingError(
                f"fieldPath {field_path!r}: an Istio route weight is at "
                ".spec.http[<i>].route[<j>].weight (or tcp/tls)"
            )


ROUTER = IstioRouter()
