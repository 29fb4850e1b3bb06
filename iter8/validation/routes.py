"""Rules on where the weights live in a routed object: one route per experiment (a user segment
is a route with a `match`, and the split must be that route's), one object for BlueGreen."""

from __future__ import annotations

from collections.abc import Iterator

from iter8.api.experiment import Experiment, VersionDetail
from iter8.routing.fieldpath import FieldPathError, format_path, parse
from iter8.validation.problems import Problem

# Objects whose weights sit in ordered routes: the route is the first keys of the fieldPath.
ROUTE_PREFIX = {
    ("networking.istio.io", "VirtualService"): 3,  # .spec.http[i] (or tcp, tls)
    ("gateway.networking.k8s.io", "HTTPRoute"): 3,  # .spec.rules[i]
}


def check_routes(
    experiment: Experiment, versions: list[tuple[str, VersionDetail]]
) -> Iterator[Problem]:
    first_route: dict[tuple[str, ...], tuple[str, str]] = {}  # object → (route, where)
    objects: dict[tuple[str, ...], str] = {}
    for path, version in versions:
        ref = version.weight_obj_ref
        if ref is None or not (ref.api_version and ref.kind and ref.name and ref.field_path):
            continue
        group = ref.api_version.rpartition("/")[0]
        obj = (group, ref.kind, ref.namespace or experiment.namespace, ref.name)
        objects.setdefault(obj, path)
        depth = ROUTE_PREFIX.get((group, ref.kind))
        if depth is None:
            continue
        try:
            keys = parse(ref.field_path)
        except FieldPathError:
            continue  # the fieldPath rule says what is wrong with it
        route = format_path(keys[:depth])
        if obj not in first_route:
            first_route[obj] = (route, path)
        elif route != first_route[obj][0]:
            other_route, other = first_route[obj]
            yield Problem(
                f"{path}.weightObjRef.fieldPath",
                f"points into route {route}, but {other} splits route {other_route} of the same "
                f"{ref.kind}: the versions must split one route (the segment's, when the route "
                "has a match), or users of one segment would see versions of another",
            )
    if experiment.spec.strategy.deployment_pattern == "BlueGreen" and len(objects) > 1:
        first, second, *_ = objects.values()
        yield Problem(
            f"{second}.weightObjRef",
            f"names another object than {first}: a BlueGreen switch is one "
            "patch of one object, never a moment with both or neither version live",
        )
