"""Rules on what is tested: the target and `spec.versionInfo` (how many candidates, unique names,
where the weights live)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from iter8.api.experiment import Experiment, VersionDetail
from iter8.api.names import is_label, not_a_label
from iter8.security.namespaces import REFERENCE_NAMESPACES_ENV, reference_namespace_allowed
from iter8.validation.metrics import outside
from iter8.validation.problems import Problem
from iter8.validation.routes import check_routes

# `.spec.traffic[1].percent`, `.spec.http[0].route[0].weight`: dot-separated names, list indices.
FIELD_PATH = re.compile(r"^(\.[A-Za-z_$][A-Za-z0-9_$-]*(\[\d+\])*)+$")

CANDIDATES_ALLOWED = {
    "Conformance": (0, 0),
    "Canary": (1, 1),
    "A/B": (1, 1),
    "A/B/N": (1, None),  # Iter8 v2's docs said ≥ 2, its controller accepted ≥ 1; so do we
    "Pareto": (1, None),
}


def check_versions(experiment: Experiment) -> Iterator[Problem]:
    spec = experiment.spec
    if not spec.target.strip():
        yield Problem("spec.target", "must not be empty: it names what the experiment routes")
    info = spec.version_info
    if info is None:
        start = (spec.strategy.actions or {}).get("start") or []
        if not any(t.task == "knative/init-experiment" for t in start):  # v2: it fills them
            yield Problem("spec.versionInfo", "is required: name the baseline (and candidates)")
        return
    pattern = spec.strategy.testing_pattern
    count = len(info.candidates or [])
    low, high = CANDIDATES_ALLOWED[pattern]
    if count < low or (high is not None and count > high):
        wanted = f"exactly {low}" if low == high else f"at least {low}"
        yield Problem(
            "spec.versionInfo.candidates",
            f"a {pattern} experiment needs {wanted} candidate(s), found {count}",
        )
    yield from _unique_names(experiment)
    for path, version in _versions_with_paths(experiment):
        yield from _weight_obj_ref(path, version)
        yield from _weight_obj_namespace(path, version, experiment.namespace)
    yield from _weights_readable(experiment)
    yield from check_routes(experiment, _versions_with_paths(experiment))


def _versions_with_paths(experiment: Experiment) -> list[tuple[str, VersionDetail]]:
    info = experiment.spec.version_info
    assert info is not None
    return [("spec.versionInfo.baseline", info.baseline)] + [
        (f"spec.versionInfo.candidates[{i}]", c) for i, c in enumerate(info.candidates or [])
    ]


def _unique_names(experiment: Experiment) -> Iterator[Problem]:
    first_seen: dict[str, str] = {}
    for path, version in _versions_with_paths(experiment):
        if not version.name:
            yield Problem(f"{path}.name", "must not be empty")
        elif version.name in first_seen:
            yield Problem(
                f"{path}.name",
                f"duplicate version name {version.name!r} (also at {first_seen[version.name]})",
            )
        else:
            first_seen[version.name] = f"{path}.name"


def _weight_obj_ref(path: str, version: VersionDetail) -> Iterator[Problem]:
    ref = version.weight_obj_ref
    if ref is None:
        return
    for field in ("api_version", "kind", "name"):
        if not getattr(ref, field):
            alias = type(ref).model_fields[field].alias
            yield Problem(f"{path}.weightObjRef.{alias}", "is required to find the routed object")
    if not ref.field_path:
        yield Problem(
            f"{path}.weightObjRef.fieldPath", "is required, e.g. .spec.traffic[0].percent"
        )
    elif not FIELD_PATH.match(ref.field_path):
        yield Problem(
            f"{path}.weightObjRef.fieldPath",
            f"{ref.field_path!r} is not a field path: start with '.', "
            "e.g. .spec.traffic[1].percent",
        )


def _weight_obj_namespace(path: str, version: VersionDetail, namespace: str) -> Iterator[Problem]:
    ref = version.weight_obj_ref
    if ref is None or ref.namespace is None:
        return
    problem = namespace_problem(ref.namespace, namespace, "routed object")
    if problem:
        yield Problem(f"{path}.weightObjRef.namespace", problem)


def namespace_problem(target: str, namespace: str, what: str) -> str | None:
    """Why an experiment in `namespace` may not reach an object in `target`, or None."""
    if not is_label(target):
        return not_a_label(target)
    if reference_namespace_allowed(namespace, target):
        return None
    return outside(
        f"the {what}'s namespace {target!r}",
        target,
        namespace,
        "the experiment's",
        REFERENCE_NAMESPACES_ENV,
    )


def _weights_readable(experiment: Experiment) -> Iterator[Problem]:
    """Iter8 v2 reads the split from the refs and infers at most one version's weight as the
    rest of 100; with two or more versions lacking a ref it failed at runtime. Say so up front."""
    strategy = experiment.spec.strategy
    if strategy.testing_pattern == "Conformance" or strategy.deployment_pattern == "FixedSplit":
        return
    unrouted = [p for p, v in _versions_with_paths(experiment) if v.weight_obj_ref is None]
    if len(unrouted) > 1:
        yield Problem(
            f"{unrouted[1]}.weightObjRef",
            "is required: at most one version may go without a weightObjRef "
            f"(its weight is the rest of 100); {len(unrouted)} do "
            "(or use deploymentPattern: FixedSplit)",
        )
