"""One invalid experiment per rule: each is refused, and the problem names the right field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from iter8.manifests import Document
from iter8.validation.documents import check_documents

Manifest = dict[str, Any]


def valid_canary() -> Manifest:
    route = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "app"}
    return {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Experiment",
        "metadata": {"name": "exp", "namespace": "shop"},
        "spec": {
            "target": "shop/app",
            "strategy": {
                "testingPattern": "Canary",
                "actions": {"finish": [{"if": "CandidateWon()", "run": "echo promote"}]},
            },
            "criteria": {
                "requestCount": "iter8-system/request-count",
                "objectives": [
                    {"metric": "iter8-system/mean-latency", "upperLimit": 50},
                    {"metric": "iter8-system/error-rate", "upperLimit": "0.01"},
                ],
            },
            "duration": {"intervalSeconds": 1, "iterationsPerLoop": 5},
            "versionInfo": {
                "baseline": {
                    "name": "v1",
                    "weightObjRef": {**route, "fieldPath": ".spec.traffic[0].percent"},
                },
                "candidates": [
                    {
                        "name": "v2",
                        "weightObjRef": {**route, "fieldPath": ".spec.traffic[1].percent"},
                    }
                ],
            },
        },
    }


def problems_of(*manifests: Manifest) -> list[str]:
    documents = [Document("exp.yaml", i, 1, m) for i, m in enumerate(manifests)]
    return [f"{p.problem.path}: {p.problem.message}" for p in check_documents(documents)]


def test_the_base_manifest_is_valid() -> None:
    assert problems_of(valid_canary()) == []


def _set(path: str, value: Any) -> Callable[[Manifest], None]:
    """A mutation that sets `spec.a.b[0].c` (creating nothing: the path must exist but the leaf)."""

    def mutate(manifest: Manifest) -> None:
        *parents, leaf = _parts(path)
        node: Any = manifest
        for part in parents:
            node = node[part]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value

    return mutate


def _parts(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for token in path.replace("[", ".[").split("."):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    return parts


_DELETE = object()


def _both(*mutations: Callable[[Manifest], None]) -> Callable[[Manifest], None]:
    def mutate(manifest: Manifest) -> None:
        for mutation in mutations:
            mutation(manifest)

    return mutate


CASES: list[tuple[str, Callable[[Manifest], None], str]] = [
    ("empty target", _set("spec.target", ""), "spec.target"),
    (
        "unknown testing pattern",
        _set("spec.strategy.testingPattern", "AB"),
        "spec.strategy.testingPattern",
    ),
    (
        "unknown deployment pattern",
        _set("spec.strategy.deploymentPattern", "Rolling"),
        "spec.strategy.deploymentPattern",
    ),
    (
        "weight above 100",
        _set("spec.strategy.weights", {"maxCandidateWeight": 101}),
        "spec.strategy.weights.maxCandidateWeight",
    ),
    (
        "negative increment",
        _set("spec.strategy.weights", {"maxCandidateWeightIncrement": -1}),
        "spec.strategy.weights.maxCandidateWeightIncrement",
    ),
    ("zero interval", _set("spec.duration.intervalSeconds", 0), "spec.duration.intervalSeconds"),
    ("no versionInfo", _set("spec.versionInfo", _DELETE), "spec.versionInfo"),
    (
        "canary without candidate",
        _set("spec.versionInfo.candidates", []),
        "spec.versionInfo.candidates",
    ),
    (
        "conformance with a candidate",
        _set("spec.strategy.testingPattern", "Conformance"),
        "spec.versionInfo.candidates",
    ),
    (
        "duplicate version names",
        _set("spec.versionInfo.candidates[0].name", "v1"),
        "spec.versionInfo.candidates[0].name",
    ),
    (
        "fieldPath without a leading dot",
        _set("spec.versionInfo.candidates[0].weightObjRef.fieldPath", "spec.traffic[1].percent"),
        "spec.versionInfo.candidates[0].weightObjRef.fieldPath",
    ),
    (
        "fieldPath with a bad index",
        _set("spec.versionInfo.baseline.weightObjRef.fieldPath", ".spec.traffic[x].percent"),
        "spec.versionInfo.baseline.weightObjRef.fieldPath",
    ),
    (
        "weightObjRef without kind",
        _set("spec.versionInfo.baseline.weightObjRef.kind", _DELETE),
        "spec.versionInfo.baseline.weightObjRef.kind",
    ),
    (
        "two versions without weightObjRef",
        _both(
            _set("spec.versionInfo.baseline.weightObjRef", _DELETE),
            _set("spec.versionInfo.candidates[0].weightObjRef", _DELETE),
        ),
        "spec.versionInfo.candidates[0].weightObjRef",
    ),
    (
        "reward on a canary",
        _set(
            "spec.criteria.rewards",
            [{"metric": "iter8-system/mean-latency", "preferredDirection": "Low"}],
        ),
        "spec.criteria.rewards",
    ),
    (
        "objective without a limit",
        _set("spec.criteria.objectives[0].upperLimit", _DELETE),
        "spec.criteria.objectives[0]",
    ),
    (
        "lower limit above upper",
        _set("spec.criteria.objectives[0].lowerLimit", 60),
        "spec.criteria.objectives[0].lowerLimit",
    ),
    (
        "limit that is not a quantity",
        _set("spec.criteria.objectives[1].upperLimit", "1%"),
        "spec.criteria.objectives[1].upperLimit",
    ),
    (
        "metric that does not exist",
        _set("spec.criteria.objectives[0].metric", "iter8-system/mean-latencyy"),
        "spec.criteria.objectives[0].metric",
    ),
    (
        "bare name resolves in the experiment's namespace",
        _set("spec.criteria.objectives[0].metric", "mean-latency"),
        "spec.criteria.objectives[0].metric",
    ),
    (
        "malformed metric reference",
        _set("spec.criteria.requestCount", "a/b/c"),
        "spec.criteria.requestCount",
    ),
    (
        "task with both task and run",
        _set("spec.strategy.actions.finish[0].task", "notification/http"),
        "spec.strategy.actions.finish[0]",
    ),
    (
        "task with neither task nor run",
        _set("spec.strategy.actions.finish[0].run", _DELETE),
        "spec.strategy.actions.finish[0]",
    ),
    (
        "unknown task",
        _set("spec.strategy.actions.finish[0]", {"task": "common/teleport"}),
        "spec.strategy.actions.finish[0].task",
    ),
    (
        "if that does not parse",
        _set("spec.strategy.actions.finish[0].if", "CandidateWon() and"),
        "spec.strategy.actions.finish[0].if",
    ),
    (
        "if with an unknown function",
        _set("spec.strategy.actions.finish[0].if", "LoserFound()"),
        "spec.strategy.actions.finish[0].if",
    ),
    (
        "metrics/collect without versions",
        _set("spec.strategy.actions.loop", [{"task": "metrics/collect"}]),
        "spec.strategy.actions.loop[0].with.versions",
    ),
    ("A/B without a reward", _set("spec.strategy.testingPattern", "A/B"), "spec.criteria.rewards"),
]


@pytest.mark.parametrize(
    ("mutation", "expected_path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_rule_names_its_field(
    mutation: Callable[[Manifest], None], expected_path: str
) -> None:
    manifest = valid_canary()
    mutation(manifest)
    found = problems_of(manifest)
    assert found, "the mutated manifest should be invalid"
    assert any(line.split(": ", 1)[0] == expected_path for line in found), found


def test_all_problems_are_reported_at_once() -> None:
    manifest = valid_canary()
    for _, mutation, _ in (CASES[0], CASES[9], CASES[16], CASES[24]):
        mutation(manifest)
    paths = {line.split(": ", 1)[0] for line in problems_of(manifest)}
    assert {
        "spec.target",
        "spec.versionInfo.candidates[0].name",
        "spec.criteria.objectives[0].lowerLimit",
        "spec.strategy.actions.finish[0].if",
    } <= paths


def test_a_bare_metric_name_resolves_in_the_experiments_namespace() -> None:
    manifest = valid_canary()
    manifest["spec"]["criteria"]["objectives"][0]["metric"] = "latency"
    metric = {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Metric",
        "metadata": {"name": "latency", "namespace": "shop"},
        "spec": {"urlTemplate": "http://127.0.0.1:9090/api/v1/query", "jqExpression": ".x"},
    }
    assert problems_of(manifest, metric) == []
    elsewhere = copy.deepcopy(metric)
    elsewhere["metadata"]["namespace"] = "other"
    assert problems_of(manifest, elsewhere)[0].startswith("spec.criteria.objectives[0].metric")


def test_a_metrics_sample_size_must_resolve_too() -> None:
    manifest = valid_canary()
    manifest["spec"]["criteria"]["objectives"][0]["metric"] = "shop/rate"
    metric = {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Metric",
        "metadata": {"name": "rate", "namespace": "shop"},
        "spec": {"mock": [{"name": "v1", "level": 1}], "sampleSize": "count"},
    }
    assert problems_of(manifest, metric) == [
        "spec.criteria.objectives[0].metric: metric shop/rate has sampleSize shop/count, which is not found"
    ]


METRIC_CASES = [
    ("no url", {"jqExpression": ".a"}, "spec.urlTemplate"),
    ("no jq", {"urlTemplate": "http://x"}, "spec.jqExpression"),
    (
        "jq that does not compile",
        {"urlTemplate": "http://x", "jqExpression": ".a |"},
        "spec.jqExpression",
    ),
    (
        "auth without secret",
        {"urlTemplate": "http://x", "jqExpression": ".a", "authType": "Bearer"},
        "spec.secret",
    ),
    (
        "bad auth type",
        {"urlTemplate": "http://x", "jqExpression": ".a", "authType": "Magic"},
        "spec.authType",
    ),
    ("bad type", {"mock": [{"name": "v1", "level": 1}], "type": "Histogram"}, "spec.type"),
    ("bad mock level", {"mock": [{"name": "v1", "level": "high"}]}, "spec.mock[0].level"),
]


@pytest.mark.parametrize(
    ("spec", "expected_path"), [c[1:] for c in METRIC_CASES], ids=[c[0] for c in METRIC_CASES]
)
def test_metric_rules_name_their_field(spec: dict[str, Any], expected_path: str) -> None:
    metric = {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Metric",
        "metadata": {"name": "m"},
        "spec": spec,
    }
    found = problems_of(metric)
    assert any(line.split(": ", 1)[0] == expected_path for line in found), found
