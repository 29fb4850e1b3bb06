"""Route rules: the versions of one experiment split one route of a routed object (a segment's
route is never mixed with another's), and a BlueGreen switch is one object's patch."""

from __future__ import annotations

import pytest

from tests.validation.test_invalid import Manifest, problems_of, valid_canary

VS = {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService", "name": "reviews"}
HR = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "name": "reviews"}


def routed(
    ref: dict, baseline_path: str, candidate_path: str, pattern: str | None = None
) -> Manifest:
    manifest = valid_canary()
    info = manifest["spec"]["versionInfo"]
    info["baseline"]["weightObjRef"] = {**ref, "fieldPath": baseline_path}
    info["candidates"][0]["weightObjRef"] = {**ref, "fieldPath": candidate_path}
    if pattern is not None:
        manifest["spec"]["strategy"]["deploymentPattern"] = pattern
    return manifest


@pytest.mark.parametrize(
    ("ref", "baseline", "candidate", "route"),
    [
        (VS, ".spec.http[0].route[0].weight", ".spec.http[1].route[1].weight", ".spec.http[1]"),
        (
            HR,
            ".spec.rules[0].backendRefs[0].weight",
            ".spec.rules[2].backendRefs[1].weight",
            ".spec.rules[2]",
        ),
    ],
)
def test_weights_in_two_routes_of_one_object_are_refused_naming_the_field(
    ref: dict, baseline: str, candidate: str, route: str
) -> None:
    found = problems_of(routed(ref, baseline, candidate))
    assert len(found) == 1, found
    field = "spec.versionInfo.candidates[0].weightObjRef.fieldPath: "
    assert found[0].startswith(field) and f"points into route {route}" in found[0]
    assert "segment" in found[0]


def test_weights_in_one_route_are_accepted() -> None:
    assert (
        problems_of(routed(VS, ".spec.http[1].route[0].weight", ".spec.http[1].route[1].weight"))
        == []
    )


def test_blue_green_in_two_objects_is_refused() -> None:
    manifest = routed(
        VS, ".spec.http[0].route[0].weight", ".spec.http[0].route[1].weight", "BlueGreen"
    )
    manifest["spec"]["versionInfo"]["candidates"][0]["weightObjRef"]["name"] = "reviews-canary"
    found = problems_of(manifest)
    assert found == [
        "spec.versionInfo.candidates[0].weightObjRef: names another object than "
        "spec.versionInfo.baseline: a BlueGreen switch is one patch of one object, never a "
        "moment with both or neither version live"
    ]
    manifest["spec"]["versionInfo"]["candidates"][0]["weightObjRef"]["name"] = "reviews"
    assert problems_of(manifest) == []
