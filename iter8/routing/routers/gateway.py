"""Gateway API HTTPRoute backend weights: `.spec.rules[i].backendRefs[j].weight`.

Gateway API weights are relative (a backend gets weight/Σweights of its rule) and default to 1
(the CRD's default), so a missing weight reads 1; no sum is enforced. At the end, the rule's
RequestMirror filters and the test rules to candidates go (`iter8.routing.shaping`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import ClassVar

from iter8.routing.fieldpath import Key
from iter8.routing.router import (
    FieldRouter,
    Object,
    Operation,
    RoutingError,
    WeightTarget,
    group_of,
)
from iter8.routing.shaping import gateway_finish


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

    def finish(
        self, obj: Object, targets: Sequence[WeightTarget], candidates: Collection[str]
    ) -> list[Operation]:
        """The rule's RequestMirror filters, and test rules to candidates, removed."""
        return gateway_finish(obj, targets, candidates)


ROUTER = GatewayRouter()
