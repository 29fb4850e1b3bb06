"""Pure planning: which objects to patch with what, and what split the objects hold.

Results are keyed by version NAME. Iter8 v2 kept the read-back split as a list and appended the
implied weight of the version without a `weightObjRef` at the end, so when that version was the
baseline every weight was attributed to the wrong version (iter8-v2.md §3.9 quirk 1).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from iter8.api.experiment import Experiment, VersionDetail
from iter8.routing.objects import ObjectKey
from iter8.routing.registry import router_for
from iter8.routing.router import Object, Operation, RoutingError, WeightTarget, check_weight
from iter8.security.namespaces import REFERENCE_NAMESPACES_ENV, reference_namespace_allowed


def weights_are_applied(experiment: Experiment) -> bool:
    """Whether each iteration's weights are written: only a Progressive ramp moves traffic while
    the experiment runs. FixedSplit keeps the user's split (Iter8 v2); BlueGreen keeps the
    candidate at 0%, reachable through a test route, until the switch (`promotion_is_routed`):
    never an intermediate split. Conformance has nothing to split."""
    strategy = experiment.spec.strategy
    return strategy.testing_pattern != "Conformance" and strategy.deployment_pattern in (
        None,
        "Progressive",
    )


def promotion_is_routed(experiment: Experiment) -> bool:
    """Whether the end of the experiment sends all traffic to the version kept: every pattern
    that has versions to choose between (FixedSplit's winner and BlueGreen's switch included)."""
    return experiment.spec.strategy.testing_pattern != "Conformance"


def check_atomic_switch(experiment: Experiment) -> None:
    """BlueGreen switches 0 → 100 (and back) in one patch, so every `weightObjRef` must name one
    object: with two, there would be a moment when both or neither version had the traffic."""
    if experiment.spec.strategy.deployment_pattern != "BlueGreen":
        return
    objects = sorted({str(key) for key in targets_by_object(experiment)})
    if len(objects) > 1:
        raise RoutingError(
            f"a BlueGreen switch must be one patch of one object, but the weightObjRefs name "
            f"{len(objects)}: {', '.join(objects)}"
        )


def object_key(experiment: Experiment, version: VersionDetail) -> ObjectKey | None:
    """Where the version's weight lives; None if it has no `weightObjRef`. The object's namespace
    defaults to the experiment's; another one is refused unless the operator allows it
    (`iter8.security.namespaces`): an experiment must not move another team's traffic."""
    ref = version.weight_obj_ref
    if ref is None:
        return None
    missing = [f for f in ("api_version", "kind", "name", "field_path") if not getattr(ref, f)]
    if missing:
        names = ", ".join(_camel(f) for f in missing)
        raise RoutingError(f"weightObjRef of version {version.name!r} lacks {names}")
    assert ref.api_version and ref.kind and ref.name
    namespace = ref.namespace or experiment.namespace
    if not reference_namespace_allowed(experiment.namespace, namespace):
        raise RoutingError(
            f"{_field_of(experiment, version)}.weightObjRef.namespace: {namespace!r} is not the "
            f"experiment's namespace {experiment.namespace!r}, and no operator allowed it "
            f"({REFERENCE_NAMESPACES_ENV})"
        )
    return ObjectKey(ref.api_version, ref.kind, namespace, ref.name)


def _field_of(experiment: Experiment, version: VersionDetail) -> str:
    index = next((i for i, v in enumerate(experiment.versions) if v is version), None)
    if index is None:
        return f"version {version.name!r}"
    return "spec.versionInfo." + ("baseline" if index == 0 else f"candidates[{index - 1}]")


def targets_by_object(experiment: Experiment) -> dict[ObjectKey, list[WeightTarget]]:
    """The versions with a `weightObjRef`, grouped by the object they route through, so that
    each object gets one patch."""
    groups: dict[ObjectKey, list[WeightTarget]] = {}
    for version in experiment.versions:
        key = object_key(experiment, version)
        if key is not None:
            assert version.weight_obj_ref and version.weight_obj_ref.field_path
            target = WeightTarget(version.name, version.weight_obj_ref.field_path)
            groups.setdefault(key, []).append(target)
    return groups


def check_weights(experiment: Experiment, weights: Mapping[str, int]) -> None:
    """Every version with a `weightObjRef` needs a weight, and every weight a version."""
    names = [v.name for v in experiment.versions]
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise RoutingError(f"weights name unknown versions {unknown}; versions are {names}")
    for key, targets in targets_by_object(experiment).items():
        for target in targets:
            if target.version not in weights:
                raise RoutingError(f"no weight for version {target.version!r}, routed by {key}")
            check_weight(target.version, weights[target.version])


@dataclass(frozen=True)
class ObjectPatch:
    """One JSON patch for one object; empty `operations` means the object already holds the split."""

    key: ObjectKey
    router: str
    operations: list[Operation]
    versions: tuple[str, ...]
    weighting: int  # the first operations set weights; the rest prepare or clean up


def plan_object(
    key: ObjectKey,
    obj: Object,
    targets: list[WeightTarget],
    weights: Mapping[str, int],
    candidates: Collection[str] | None = None,
) -> ObjectPatch:
    """The weights' operations, followed by those that add what the experiment needs while it
    runs (`Router.prepare`) or, with `candidates` (the experiment ends), by those that remove
    its mirror, test routes and tags, in the same patch."""
    router = router_for(key.api_version, key.kind)
    try:
        operations = router.plan(obj, targets, weights)
        weighting = len(operations)
        if candidates is not None:
            operations += router.finish(obj, targets, candidates)
        else:
            operations += router.prepare(obj, targets)
    except RoutingError as error:
        raise type(error)(f"{key}: {error}") from None  # a NotReady stays one: route holds
    return ObjectPatch(key, router.name, operations, tuple(t.version for t in targets), weighting)


def plan_preparation(key: ObjectKey, obj: Object, targets: list[WeightTarget]) -> ObjectPatch:
    """Only what the experiment needs in the object while it runs (`Router.prepare`): at the
    start, whatever the pattern (BlueGreen's route never writes, yet its candidate needs a tag)."""
    router = router_for(key.api_version, key.kind)
    try:
        operations = router.prepare(obj, targets)
    except RoutingError as error:
        raise RoutingError(f"{key}: {error}") from None
    return ObjectPatch(key, router.name, operations, tuple(t.version for t in targets), 0)


def plan_cleanup(
    key: ObjectKey, obj: Object, targets: list[WeightTarget], candidates: Collection[str]
) -> ObjectPatch:
    """Only the operations that remove what the experiment's traffic shaping left in the object
    (`Router.finish`), the weights as they are: for an experiment that ends without its final
    weights written (a failed route or promotion), so that still nothing is left behind."""
    router = router_for(key.api_version, key.kind)
    try:
        operations = router.finish(obj, targets, candidates)
    except RoutingError as error:
        raise RoutingError(f"{key}: {error}") from None
    return ObjectPatch(key, router.name, operations, tuple(t.version for t in targets), 0)


def weights_from_objects(
    experiment: Experiment, objects: Mapping[ObjectKey, Object], *, partial: bool = False
) -> dict[str, int]:
    """The split the objects hold, by version name, in version order.

    A version without a `weightObjRef` gets 100 − the others when it is the only one; with more
    than one such version the split is unknowable, which is an error unless the experiment is
    FixedSplit (or `partial`), where the versions that cannot be read are left out.
    """
    read: dict[str, int] = {}
    lacking: list[str] = []
    for version in experiment.versions:
        key = object_key(experiment, version)
        if key is None:
            lacking.append(version.name)
            continue
        assert version.weight_obj_ref and version.weight_obj_ref.field_path
        router = router_for(key.api_version, key.kind)
        try:
            read[version.name] = router.read(objects[key], version.weight_obj_ref.field_path)
        except RoutingError as error:
            raise RoutingError(f"{key}: weight of version {version.name!r}: {error}") from None
    if len(lacking) == 1:
        implied = 100 - sum(read.values())
        if implied >= 0:
            read[lacking[0]] = implied
        elif not partial:
            raise RoutingError(
                f"version {lacking[0]!r} has no weightObjRef, so its weight is 100 minus the "
                f"others, but the others already hold {100 - implied}"
            )
    elif lacking and not partial and experiment.spec.strategy.deployment_pattern != "FixedSplit":
        raise RoutingError(
            f"versions {lacking} have no weightObjRef; at most one version may lack one "
            "(its weight is then implied), unless the deploymentPattern is FixedSplit"
        )
    return {v.name: read[v.name] for v in experiment.versions if v.name in read}


def promote_weights(experiment: Experiment, winner: str) -> dict[str, int]:
    """All traffic to `winner` (the promoted version, or the baseline on rollback)."""
    names = [v.name for v in experiment.versions]
    if winner not in names:
        raise RoutingError(f"cannot promote {winner!r}: not one of the versions {names}")
    return {name: 100 if name == winner else 0 for name in names}


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)
