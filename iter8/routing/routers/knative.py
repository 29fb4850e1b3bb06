"""Knative Serving `spec.traffic[i].percent` (Service or Route).

Knative refuses a traffic block whose percentages do not sum to exactly 100 ("Traffic targets
sum to N, want 100"), so the plan is checked against the whole list before anything is written:
a refused split is reported here, with the numbers, instead of as a 400 mid-experiment. A
missing `percent` counts as 0, as Knative defaults it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import ClassVar

from iter8.routing.fieldpath import Key, format_path
from iter8.routing.router import (
    FieldRouter,
    Object,
    Operation,
    RoutingError,
    WeightTarget,
    group_of,
)

TAGS_ANNOTATION = "iter8.tools/tags"  # the tags the experiment added, comma-separated
_ANNOTATION_POINTER = "/metadata/annotations/" + TAGS_ANNOTATION.replace("/", "~1")
_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


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

    def prepare(self, obj: Object, targets: Sequence[WeightTarget]) -> list[Operation]:
        """A tag, the version's name, for each version's entry that has none."""
        traffic = _traffic(obj)
        taken = {e.get("tag") for e in traffic if e.get("tag")}
        operations: list[Operation] = []
        for target in targets:
            index = self.keys(target.field_path)[2]
            assert isinstance(index, int)
            if index >= len(traffic) or traffic[index].get("tag"):
                continue
            if not _DNS_LABEL.fullmatch(target.version) or target.version in taken:
                continue  # not a valid tag, or another entry's: the version goes untagged
            operations.append(
                {"op": "add", "path": f"/spec/traffic/{index}/tag", "value": target.version}
            )
            taken.add(target.version)
        if not operations:
            return []
        added = sorted({*added_tags(obj), *(op["value"] for op in operations)})
        annotations = (obj.get("metadata") or {}).get("annotations")
        if isinstance(annotations, dict):
            operations.append({"op": "add", "path": _ANNOTATION_POINTER, "value": ",".join(added)})
        else:
            value = {TAGS_ANNOTATION: ",".join(added)}
            operations.append({"op": "add", "path": "/metadata/annotations", "value": value})
        return operations

    def finish(
        self, obj: Object, targets: Sequence[WeightTarget], candidates: Collection[str]
    ) -> list[Operation]:
        """The tags the experiment added (its annotation lists them) and the annotation."""
        annotations = (obj.get("metadata") or {}).get("annotations")
        if not isinstance(annotations, dict) or TAGS_ANNOTATION not in annotations:
            return []
        added = set(added_tags(obj))
        operations: list[Operation] = [
            {"op": "remove", "path": f"/spec/traffic/{index}/tag"}
            for index, entry in enumerate(_traffic(obj))
            if entry.get("tag") in added
        ]
        return [*operations, {"op": "remove", "path": _ANNOTATION_POINTER}]


def added_tags(obj: Object) -> list[str]:
    """The tags an experiment added to the Service (`TAGS_ANNOTATION`)."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(TAGS_ANNOTATION)
    return [t for t in str(value or "").split(",") if t]


def _traffic(obj: Object) -> list[Object]:
    traffic = (obj.get("spec") or {}).get("traffic")
    return [e if isinstance(e, dict) else {} for e in traffic] if isinstance(traffic, list) else []


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
