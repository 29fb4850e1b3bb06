"""Every number and nesting validation accepts is bounded: values that would stall or crash a run
are refused up front, each naming its field (bounds in iter8.api.experiment and .conditions)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.validation.test_invalid import problems_of, valid_canary


def _with(path: str, value: Any) -> dict[str, Any]:
    manifest = valid_canary()
    node: Any = manifest
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[int(leaf) if leaf.isdigit() else leaf] = value
    return manifest


CASES = [
    ("spec.duration.intervalSeconds", 10**100, "must be at most 86400"),
    ("spec.duration.intervalSeconds", 86_401, "must be at most 86400"),
    ("spec.duration.intervalSeconds", True, "must be an integer"),
    ("spec.duration.intervalSeconds", "5", "must be an integer"),
    ("spec.duration.intervalSeconds", 1e100, "is too large"),
    ("spec.duration.iterationsPerLoop", 10_001, "must be at most 10000"),
    ("spec.duration.maxLoops", 10**30, "must be at most 10000"),
    ("spec.strategy.weights.maxCandidateWeight", False, "must be an integer"),
    (
        "spec.strategy.actions.finish.0.if",
        "(" * 3000 + "CandidateWon()" + ")" * 3000,
        "does not parse: longer than 1000 characters",
    ),
    (
        "spec.strategy.actions.finish.0.if",
        "(" * 33 + "true" + ")" * 33,
        "does not parse: nested deeper than 32 levels",
    ),
    ("spec.strategy.actions.finish.0.if", "not " * 40 + "true", "nested deeper than 32 levels"),
    ("spec.criteria.objectives.0.upperLimit", "1e999999999", "is not a quantity"),
    ("spec.criteria.objectives.0.upperLimit", "1e9999", "is not a finite quantity"),
    ("spec.criteria.objectives.0.upperLimit", float("inf"), "is not a finite quantity"),
    ("spec.criteria.objectives.0.upperLimit", 10**400, "is not a finite quantity"),
    ("spec.criteria.objectives.0.upperLimit", "9" * 5000, "more than 100 characters"),
    ("metadata.name", "Exp_1", "is not a lowercase RFC 1123 subdomain"),
    ("metadata.name", "a" * 254, "is not a lowercase RFC 1123 subdomain"),
    ("metadata.namespace", "Shop", "is not a lowercase RFC 1123 label"),
    ("metadata.namespace", "a.b", "is not a lowercase RFC 1123 label"),
]


@pytest.mark.parametrize(
    ("path", "value", "message"), CASES, ids=[f"{c[0]}={c[1]!r:.20}" for c in CASES]
)
def test_out_of_bounds_values_are_refused_naming_the_field(
    path: str, value: Any, message: str
) -> None:
    field = path.replace(".0.", "[0].")
    found = problems_of(_with(path, value))
    assert any(line.startswith(f"{field}: ") and message in line for line in found), found


def test_at_most_10000_iterations_in_all() -> None:
    manifest = _with("spec.duration.iterationsPerLoop", 5_000)
    manifest["spec"]["duration"]["maxLoops"] = 2
    assert problems_of(manifest) == []
    manifest["spec"]["duration"]["maxLoops"] = 3
    assert problems_of(manifest) == [
        "spec.duration.maxLoops: iterationsPerLoop × maxLoops is 15000: at most 10000 iterations"
    ]


def test_the_bounds_themselves_are_accepted() -> None:
    manifest = _with("spec.duration.intervalSeconds", 86_400)
    manifest["metadata"] = {"name": "a" * 253, "namespace": "n" * 63}
    manifest["spec"]["criteria"]["objectives"][0]["upperLimit"] = "1e300"
    manifest["spec"]["strategy"]["actions"]["finish"][0]["if"] = "(" * 32 + "true" + ")" * 32
    assert problems_of(manifest) == []


def test_a_metric_name_is_checked_too() -> None:
    metric = {"apiVersion": "iter8.tools/v2alpha2", "kind": "Metric"}
    metric |= {"metadata": {"name": "Bad Name"}, "spec": {"mock": [{"name": "v1", "level": 1}]}}
    assert problems_of(metric)[0].startswith("metadata.name: 'Bad Name' is not a lowercase")
