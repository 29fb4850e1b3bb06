"""`common/readiness`: wait until the objects an experiment needs exist (and are ready).

Waits for every `objRefs` entry and every version's `weightObjRef`, with `kubectl wait`'s
`waitFor: condition=<Type>[=<Status>]` checked on `status.conditions`. Iter8 v2's defaults:
5 s initial delay, 12 retries, 5 s apart. The sleep is the context's, so tests do not wait.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from iter8.routing.objects import ObjectKey
from iter8.routing.plan import object_key
from iter8.routing.router import RoutingError
from iter8.store.base import NotFound
from iter8.tasks.base import MAX_TIMEOUT, Params, TaskContext, TaskFailed, TaskResult, parse_params
from iter8.tasks.objects import api_version_of, check_reach


class ObjRef(Params):
    kind: str
    name: str
    api_version: str | None = None
    namespace: str | None = None
    wait_for: str | None = None


class ReadinessParams(Params):
    obj_refs: list[ObjRef] = Field(default_factory=list)
    initial_delay_seconds: float = Field(default=5, ge=0, le=MAX_TIMEOUT)
    num_retries: int = Field(default=12, ge=0, le=1_000)
    interval_seconds: float = Field(default=5, ge=0, le=MAX_TIMEOUT)


@dataclass(frozen=True)
class Check:
    key: ObjectKey
    condition: tuple[str, str] | None  # (type, wanted status)


def parse_wait_for(text: str) -> tuple[str, str]:
    """`condition=Ready`, `condition=Ready=False` or just `Ready`."""
    body = text.strip().removeprefix("condition=")
    if not body or body.startswith(("delete", "jsonpath=")) or body.count("=") > 1:
        raise TaskFailed(f"waitFor {text!r}: only condition=<Type>[=<Status>] is supported")
    kind, _, status = body.partition("=")
    return kind, status or "True"


def checks_of(given: ReadinessParams, context: TaskContext) -> list[Check]:
    checks: dict[ObjectKey, Check] = {}
    for ref in given.obj_refs:
        api_version, kind = api_version_of(ref.kind, ref.api_version)
        key = ObjectKey(api_version, kind, ref.namespace or context.namespace, ref.name)
        check_reach([key], context.namespace, "with.objRefs.namespace")
        condition = parse_wait_for(ref.wait_for) if ref.wait_for else None
        checks[key] = Check(key, condition)
    for version in context.experiment.versions:
        try:
            routed = object_key(context.experiment, version)
        except RoutingError as error:
            raise TaskFailed(str(error)) from None
        if routed is not None and routed not in checks:
            checks[routed] = Check(routed, None)
    return list(checks.values())


def problem(context: TaskContext, check: Check) -> str | None:
    """Why the object is not ready yet, or None."""
    try:
        obj = context.store.get(check.key.resource, check.key.namespace, check.key.name)
    except NotFound:
        return f"{check.key} not found"
    if check.condition is None:
        return None
    wanted_type, wanted_status = check.condition
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == wanted_type:
            if condition.get("status") == wanted_status:
                return None
            return f"{check.key}: condition {wanted_type} is {condition.get('status')}"
    return f"{check.key}: no condition {wanted_type} yet"


class ReadinessTask:
    name: ClassVar[str] = "common/readiness"

    def run(self, params: Mapping[str, Any], context: TaskContext) -> TaskResult:
        given = parse_params(ReadinessParams, params)
        checks = checks_of(given, context)
        if given.initial_delay_seconds:
            context.sleep(given.initial_delay_seconds)
        for attempt in range(given.num_retries + 1):
            problems = [p for p in (problem(context, c) for c in checks) if p]
            if not problems:
                return TaskResult(
                    f"{len(checks)} object(s) ready after {attempt + 1} check(s)",
                    details={"checks": attempt + 1},
                )
            if attempt < given.num_retries:
                context.sleep(given.interval_seconds)
        raise TaskFailed(f"not ready after {given.num_retries + 1} checks: {'; '.join(problems)}")


TASK = ReadinessTask()
