"""KServe InferenceService canary: `.spec.predictor.canaryTrafficPercent` (also transformer,
explainer), on `serving.kserve.io` and KFServing's `serving.kubeflow.org` (Iter8 v2's manifests).

KServe gives the latest ready revision `canaryTrafficPercent` and the previously rolled-out one
the rest; without the field the latest revision takes everything, so a missing field reads 100.
One field routes one version (the candidate); the baseline goes without a `weightObjRef` and
gets the rest of 100. The canary's share is raised only while the InferenceService says it is
ready (condition `Ready` True and the component's latest created revision ready): traffic must
not move to a revision nobody has seen serve; an iteration then holds the split (`NotReady`).
Lowering it (a rollback) is always allowed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from iter8.routing.fieldpath import Key
from iter8.routing.router import FieldRouter, NotReady, Object, RoutingError, group_of

GROUPS = ("serving.kserve.io", "serving.kubeflow.org")
COMPONENTS = ("predictor", "transformer", "explainer")


class KServeRouter(FieldRouter):
    name: ClassVar[str] = "kserve"
    priority: ClassVar[int] = 10
    missing: ClassVar[int | None] = 100

    def matches(self, api_version: str, kind: str) -> bool:
        return group_of(api_version) in GROUPS and kind == "InferenceService"

    def check_path(self, keys: tuple[Key, ...], field_path: str) -> None:
        if not (
            len(keys) == 3
            and keys[0] == "spec"
            and keys[1] in COMPONENTS
            and keys[2] == "canaryTrafficPercent"
        ):
            raise RoutingError(
                f"fieldPath {field_path!r}: an InferenceService canary weight is at "
                ".spec.predictor.canaryTrafficPercent (or transformer, explainer)"
            )

    def check(self, new: Object) -> None:
        for component in COMPONENTS:
            value = ((new.get("spec") or {}).get(component) or {}).get("canaryTrafficPercent")
            if isinstance(value, int) and not 0 <= value <= 100:
                raise RoutingError(
                    f".spec.{component}.canaryTrafficPercent must be 0..100, not {value}"
                )

    def check_change(self, old: Object, new: Object) -> None:
        for component in COMPONENTS:
            before, after = _percent(old, component), _percent(new, component)
            if before is not None and after is not None and after > before:
                problem = not_ready(old, component)
                if problem is not None:
                    raise NotReady(
                        f"not raising .spec.{component}.canaryTrafficPercent {before} → {after}: "
                        f"{problem}"
                    )


def _percent(obj: Object, component: str) -> int | None:
    """The canary's share; None for a value that is not an integer (refused when read)."""
    value = ((obj.get("spec") or {}).get(component) or {}).get("canaryTrafficPercent", 100)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def not_ready(obj: Object, component: str = "predictor") -> str | None:
    """Why the InferenceService cannot take more canary traffic yet, or None when it can."""
    status: dict[str, Any] = obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None:
        return "its status has no Ready condition yet (readiness unknown)"
    if ready.get("status") != "True":
        why = ready.get("message") or ready.get("reason") or ""
        return f"condition Ready is {ready.get('status')}" + (f" ({why})" if why else "")
    part = (status.get("components") or {}).get(component) or {}
    created, latest = part.get("latestCreatedRevision"), part.get("latestReadyRevision")
    if created and created != latest:
        return f"its latest revision {created} is not ready (latest ready: {latest})"
    return None


ROUTER = KServeRouter()
