"""`knative/init-experiment` (Iter8 v2's handler, up to v0.1.19): the versions of an experiment
on a Knative Service, read from the Service's traffic.

In v2 this start task filled in `spec.versionInfo` from the Service named by `spec.target`
(`namespace/name`): one version per `spec.traffic` entry, in order (the first is the baseline),
named by its `tag` (else its revision), with the revision as the variable `revision` and the
entry's `percent` as the weight reference. Here init fills it the same way before admission,
when the experiment has no `versionInfo` and its start action runs this task
(`functions/init`), so validation and the target lock see the versions; the task itself, run
with the start action, checks that the Service still has them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from iter8.store import NotFound, Store, StoreError
from iter8.store.resources import KNATIVE_SERVICES
from iter8.tasks.base import Params, TaskContext, TaskFailed, TaskResult, parse_params

NAME = "knative/init-experiment"


class InitExperimentParams(Params):
    """v2's task took no inputs."""


def asks_for_it(raw: Mapping[str, Any]) -> bool:
    """Whether a stored experiment's start action runs this task."""
    spec = raw.get("spec") if isinstance(raw.get("spec"), dict) else {}
    strategy = spec.get("strategy") if isinstance(spec.get("strategy"), dict) else {}
    actions = strategy.get("actions") if isinstance(strategy.get("actions"), dict) else {}
    start = actions.get("start") if isinstance(actions.get("start"), list) else []
    return any(isinstance(t, dict) and t.get("task") == NAME for t in start)


def service_of(target: str, namespace: str) -> tuple[str, str]:
    """The Service `spec.target` names: `namespace/name`, or `name` in the experiment's."""
    service_namespace, _, name = target.strip().rpartition("/")
    return service_namespace or namespace, name


def version_info(service: Mapping[str, Any], namespace: str, name: str) -> dict[str, Any]:
    """`spec.versionInfo` from the Service's traffic; ValueError when it has too few entries."""
    traffic = (service.get("spec") or {}).get("traffic") or []
    if len(traffic) < 2:
        raise ValueError(
            f"Knative Service {namespace}/{name} has {len(traffic)} traffic entr(ies): "
            "the baseline and at least one candidate need one each"
        )
    versions = []
    for index, entry in enumerate(traffic):
        revision = entry.get("revisionName")
        version: dict[str, Any] = {
            "name": entry.get("tag") or revision or f"traffic-{index}",
            "weightObjRef": {
                "apiVersion": "serving.knative.dev/v1",
                "kind": "Service",
                "namespace": namespace,
                "name": name,
                "fieldPath": f".spec.traffic[{index}].percent",
            },
        }
        if revision:
            version["variables"] = [{"name": "revision", "value": revision}]
        versions.append(version)
    return {"baseline": versions[0], "candidates": versions[1:]}


def fill(store: Store, raw: Mapping[str, Any]) -> dict[str, Any] | str:
    """The `spec.versionInfo` this task fills in for `raw`, or why it cannot."""
    metadata = raw.get("metadata") or {}
    experiment_namespace = metadata.get("namespace") or "default"
    target = str((raw.get("spec") or {}).get("target") or "")
    namespace, name = service_of(target, experiment_namespace)
    if namespace != experiment_namespace:
        return f"spec.target: {target!r} is outside the experiment's namespace"
    try:
        service = store.get(KNATIVE_SERVICES, namespace, name)
    except NotFound:
        return f"spec.target: no Knative Service {namespace}/{name} ({NAME} reads its traffic)"
    except StoreError as error:
        return f"spec.target: cannot read Knative Service {namespace}/{name}: {error.message}"
    try:
        return version_info(service, namespace, name)
    except ValueError as error:
        return f"spec.target: {error}"


class InitExperimentTask:
    name: ClassVar[str] = NAME

    def run(self, params: Mapping[str, Any], context: TaskContext) -> TaskResult:
        parse_params(InitExperimentParams, params)
        found = fill(context.store, context.experiment.to_wire())
        if isinstance(found, str):
            raise TaskFailed(found)
        names = [v["name"] for v in [found["baseline"], *found["candidates"]]]
        have = [v.name for v in context.experiment.versions]
        if have != names[: len(have)]:
            raise TaskFailed(f"the Service's traffic names {names}, the experiment {have}")
        return TaskResult(f"versions {', '.join(have)} found on the Service")


TASK = InitExperimentTask()
