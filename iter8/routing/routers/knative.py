"""Knative Serving `spec.traffic[i].percent` (Service or Route).

Knative refuses a traffic block whose percentages do not sum to exactly 100 ("Traffic targets
sum to N, want 100"), so the plan is checked against the whole list before anything is written:
a refused split is reported here, with the numbers, instead of as a 400 mid-experiment. A
missing `percent` counts as 0, as Knative defaults it.
"""

from __future__ import annotations

from typing import ClassVar

from iter8.routing.fieldpath import Key, format_path
from iter8.routing.router import FieldRouter, Object, RoutingError, group_of


class KnativeRouter(FieldRouter):
    name: ClassVar[str] = "knative"
    priority: ClassVar[int] = 10
    missing: ClassVar[int | None] = 0

    def matches(self, api_version: str, kind: str) -> bool:
        return group_of(api_version) == "serving.knative.dev" and kind in ("Service", "Route")

    def check_path(self, keys: tuple[Key, ...], field_path: str) -> None:
        if not (
            len(keys) == 4
            and keys[:2] == ("spec", "traffic")
            and isinstance(keys[2], int)
            and keys[3] == "percent"
        ):
            raise RoutingError(
                f"fieldPath {field_path!r}: a Knative traffic weight is at "
                ".spec.traffic[<i>].percent"
            )

    def check(self, new: Object) -> None:
        traffic = (new.get("spec") or {}).get("traffic") or []
        percents = [entry.get("percent") or 0 for entry in traffic]
        for index, percent in enumerate(percents):
            if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
                where = format_path(("spec", "traffic", index, "percent"))
                raise RoutingError(f"{where} must be an integer 0..100, not {percent!r}")
        total = sum(percents)
        if total != 100:
            split = ", ".join(_label(entry, p) for entry, p in zip(traffic, percents, strict=True))
            raise RoutingError(
                f"Knative Service {_name(new)}: traffic targets would sum to {total}, want 100 "
                f"({split}); refusing to patch"
            )


def _label(entry: Object, percent: int) -> str:
    who = (
        entry.get("tag")
        or entry.get("revisionName")
        or ("latest" if entry.get("latestRevision") else "?")
    )
    return f"{who}={percent}"


def _name(obj: Object) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


ROUTER = KnativeRouter()
