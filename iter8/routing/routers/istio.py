"""Istio VirtualService route weights: `.spec.http[i].route[j].weight` (also `tcp`/`tls`).

Istio weights are relative (a destination gets weight/Σweights), so unlike Knative no sum is
enforced; a missing weight is refused on read because Istio's meaning of it depends on how many
destinations the route has. At the end, the route's mirror and the test routes to candidates
go (`iter8.routing.shaping`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import ClassVar

from iter8.routing.fieldpath import Key, parse
from iter8.routing.router import (
    FieldRouter,
    Object,
    Operation,
    RoutingError,
    WeightTarget,
    group_of,
)
from iter8.routing.shaping import istio_finish


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

    def finish(
        self, obj: Object, targets: Sequence[WeightTarget], candidates: Collection[str]
    ) -> list[Operation]:
        """The route's `mirror`/`mirrorPercentage`, and test routes to candidates, removed."""
        sections = {parse(t.field_path)[1] for t in targets}
        if len(sections) != 1:
            return []
        return istio_finish(obj, str(next(iter(sections))), targets, candidates)


ROUTER = IstioRouter()
