"""Gateway API HTTPRoute backend weights: `.spec.rules[i].backendRefs[j].weight`.

Gateway API weights are relative (a backend gets weight/Σweights of its rule) and default to 1
(the CRD's default), so a missing weight reads 1; no sum is enforced.
"""

from __future__ import annotations

from typing import ClassVar

from iter8.routing.fieldpath import Key
from iter8.routing.router import FieldRouter, RoutingError, group_of


class GatewayRouter(FieldRouter):
    name: ClassVar[str] = "gateway-api"
    priority: ClassVar[int] = 10
    missing: ClassVar[int | None] = 1

    def matches(self, api_version: str, kind: str) -> bool:
        return group_of(api_version) == "gateway.networking.k8s.io" and kind == "HTTPRoute"

    def check_path(self, keys: tuple[Key, ...], field_path: str) -> None:
        if not (
            len(keys) == 6
            and keys[:2] == ("spec", "rules")
            and isinstance(keys[2], int)
            and keys[3] == "backendRefs"
            and isinstance(keys[4], int)
            and keys[5] == "weight"
        ):
            raise RoutingError(
                f"fieldPath {field_path!r}: an HTTPRoute backend weight is at "
                ".spec.rules[<i>].backendRefs[<j>].weight"
            )


ROUTER = GatewayRouter()
