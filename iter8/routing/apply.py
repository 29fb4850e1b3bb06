"""The thin I/O shell around the planning: read the routed objects, patch them, read back.

Every object is read and planned before any is written, so a split that one object refuses
(a Knative sum ≠ 100, a bad fieldPath) leaves all objects untouched. Each patch carries the
`resourceVersion` it was planned from; when another writer got there first (`Conflict`) the
object is re-read and re-planned, a bounded number of times.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from iter8.api.experiment import Experiment
from iter8.routing.objects import ObjectKey, resource_for
from iter8.routing.plan import (
    ObjectPatch,
    check_weights,
    plan_cleanup,
    plan_object,
    plan_preparation,
    targets_by_object,
    weights_from_objects,
)
from iter8.routing.router import Object, Operation, RoutingError, WeightTarget
from iter8.routing.versions import served_api_versions
from iter8.store.base import Conflict, NotFound, PatchType, Store, StoreError
from iter8.store.patching import apply_patch
from iter8.store.resources import Resource

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class PatchedObject:
    key: ObjectKey
    router: str
    operations: list[Operation]
    resource_version: str  # of the object after the patch
    attempts: int  # 1, plus one per Conflict


@dataclass(frozen=True)
class AppliedWeights:
    patched: tuple[PatchedObject, ...]
    unchanged: tuple[ObjectKey, ...]  # objects that already held the split: no write
    weights: dict[str, int]  # the split now in force, read from the objects, by version name

    @property
    def conflicts(self) -> int:
        return sum(p.attempts - 1 for p in self.patched)


def locate(store: Store, key: ObjectKey) -> tuple[Object, Resource]:
    """The object and the resource it was found at: the version named, else another version its
    kind's CRD serves (`iter8.routing.versions`)."""
    for api_version in served_api_versions(key.api_version, key.kind):
        resource = resource_for(api_version, key.kind)
        try:
            return store.get(resource, key.namespace, key.name), resource
        except NotFound:
            continue
    raise RoutingError(f"{key}: not found (a weightObjRef names it)")


def get_object(store: Store, key: ObjectKey) -> Object:
    return locate(store, key)[0]


def apply_weights(
    store: Store,
    experiment: Experiment,
    weights: Mapping[str, int],
    *,
    finish: bool = False,
    max_attempts: int = MAX_ATTEMPTS,
) -> AppliedWeights:
    """Give each version with a `weightObjRef` its weight: one JSON patch per routed object.
    With `finish` (the experiment ends) the same patch removes the experiment's mirror and test
    routes (`Router.finish`).

    Raises RoutingError for what stays wrong (unknown version, missing object, refused split)
    and `Conflict` when other writers won `max_attempts` times in a row (worth retrying later).
    """
    check_weights(experiment, weights)
    groups = targets_by_object(experiment)
    located = {key: locate(store, key) for key in groups}
    current = {key: obj for key, (obj, _) in located.items()}
    candidates = {v.name for v in experiment.versions[1:]} if finish else None
    plans = {
        key: plan_object(key, current[key], groups[key], weights, candidates) for key in groups
    }
    patched: list[PatchedObject] = []
    unchanged: list[ObjectKey] = []
    for key, plan in plans.items():

        def replan(obj: Object, key: ObjectKey = key) -> ObjectPatch:
            return plan_object(key, obj, groups[key], weights, candidates)

        current[key], done = _patch_with_retries(
            store, located[key][1], plan, current[key], replan, max_attempts
        )
        if done is None:
            unchanged.append(key)
        else:
            patched.append(done)
    in_force = weights_from_objects(experiment, current, partial=True)
    return AppliedWeights(tuple(patched), tuple(unchanged), in_force)


def prepare_routing(
    store: Store, experiment: Experiment, *, max_attempts: int = MAX_ATTEMPTS
) -> tuple[PatchedObject, ...]:
    """Add what the experiment needs in its routed objects while it runs (a Knative tag per
    version, `Router.prepare`), the weights as they are: at the start, whatever the pattern.
    A missing object is left to the read of the split to report. Raises as `apply_weights`."""
    return _patch_each(store, experiment, plan_preparation, max_attempts)


def remove_shaping(
    store: Store, experiment: Experiment, *, max_attempts: int = MAX_ATTEMPTS
) -> tuple[PatchedObject, ...]:
    """Remove what the experiment's traffic shaping left in its routed objects (its mirror, its
    test routes, the tags it added), the weights as they are: the end of an experiment whose
    final weights could not be written (a failed route or promotion) must not leave a mirror
    behind either. An object that is gone holds nothing of the experiment's. Raises as
    `apply_weights` does."""
    candidates = {v.name for v in experiment.versions[1:]}

    def plan(key: ObjectKey, obj: Object, targets: list[WeightTarget]) -> ObjectPatch:
        return plan_cleanup(key, obj, targets, candidates)

    return _patch_each(store, experiment, plan, max_attempts)


def _patch_each(
    store: Store,
    experiment: Experiment,
    plan: Callable[[ObjectKey, Object, list[WeightTarget]], ObjectPatch],
    max_attempts: int,
) -> tuple[PatchedObject, ...]:
    """Each routed object that exists, patched as `plan` says (nothing when it says nothing)."""
    patched: list[PatchedObject] = []
    for key, targets in targets_by_object(experiment).items():
        try:
            obj, resource = locate(store, key)
        except RoutingError:
            continue

        def replan(
            obj: Object, key: ObjectKey = key, targets: list[WeightTarget] = targets
        ) -> ObjectPatch:
            return plan(key, obj, targets)

        _, done = _patch_with_retries(store, resource, replan(obj), obj, replan, max_attempts)
        if done is not None:
            patched.append(done)
    return tuple(patched)


def leave_nothing_behind(store: Store, experiment: Experiment) -> str | None:
    """`remove_shaping` for an experiment that ends without its final weights written: None when
    nothing of its shaping is left, else why something may be (an error that would stay).
    Errors worth retrying are raised: the experiment must not end before they pass, or its
    mirror would outlive it with nobody left to remove it."""
    try:
        remove_shaping(store, experiment)
        return None
    except RoutingError as error:
        problem = str(error)
    except StoreError as error:
        if worth_retrying(error):
            raise
        problem = error.message
    return f"what it added to the routing (mirror, test routes, tags) may remain: {problem}"


def worth_retrying(error: StoreError) -> bool:
    """A store error that may pass (another writer, an overloaded or unreachable server), as
    opposed to one that stays (forbidden, invalid, gone)."""
    return isinstance(error, Conflict) or error.code >= 500 or error.code == 429


def _patch_with_retries(
    store: Store,
    resource: Resource,
    plan: ObjectPatch,
    obj: Object,
    replan: Callable[[Object], ObjectPatch],
    max_attempts: int,
) -> tuple[Object, PatchedObject | None]:
    """The object as it ends up (its weights where the fieldPaths find them, when the patch
    also removed routes), and the patch that made it so (None: it needed none). After a
    conflict the object is read again and `replan` plans its patch afresh."""
    key = plan.key
    last: Conflict | None = None
    for attempt in range(1, max_attempts + 1):
        if attempt > 1:
            obj = _get_at(store, resource, key)
            plan = replan(obj)
        if not plan.operations:
            return obj, None
        version = str(obj["metadata"]["resourceVersion"])
        try:
            new = store.patch(
                resource,
                key.namespace,
                key.name,
                plan.operations,
                PatchType.JSON,
                resource_version=version,
            )
        except Conflict as conflict:
            last = conflict
            continue
        except NotFound:
            raise RoutingError(f"{key}: deleted while its weights were being applied") from None
        done = PatchedObject(
            key, plan.router, plan.operations, str(new["metadata"]["resourceVersion"]), attempt
        )
        if plan.weighting < len(plan.operations):  # routes went: read weights where they were
            new = apply_patch(obj, plan.operations[: plan.weighting], PatchType.JSON)
        return new, done
    raise Conflict(f"{key}: gave up after {max_attempts} conflicting writes: {last}")


def _get_at(store: Store, resource: Resource, key: ObjectKey) -> Object:
    try:
        return store.get(resource, key.namespace, key.name)
    except NotFound:
        raise RoutingError(f"{key}: deleted while its weights were being applied") from None


def read_weights(store: Store, experiment: Experiment) -> dict[str, int]:
    """The split in force, by version name (one read per routed object)."""
    objects = {key: get_object(store, key) for key in targets_by_object(experiment)}
    return weights_from_objects(experiment, objects)
