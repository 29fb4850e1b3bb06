"""Task inputs are validated up front by each task's own model, and what a model cannot say:
URLs, templates naming fields that exist. Each problem names its field."""

from __future__ import annotations

from typing import Any

import pytest

from iter8.tasks import all_tasks
from iter8.validation.tasks import INPUTS
from tests.validation.test_invalid import problems_of, valid_canary

FINISH = "spec.strategy.actions.finish[0]"


def with_task(task: dict[str, Any]) -> list[str]:
    manifest = valid_canary()
    manifest["spec"]["versionInfo"]["candidates"][0]["variables"] = [
        {"name": "promote", "value": "v2"}
    ]
    manifest["spec"]["strategy"]["actions"]["finish"] = [task]
    return problems_of(manifest)


def test_every_registered_task_has_an_input_model() -> None:
    assert set(INPUTS) == set(all_tasks())


CASES = [
    ({"task": "notification/http", "with": {"url": 42}}, "with.url", "must be a string"),
    (
        {"task": "notification/http", "with": {"url": "http://127.0.0.1/x", "colour": "red"}},
        "with.colour",
        "Extra inputs are not permitted",
    ),
    ({"task": "notification/http", "with": {}}, "with.url", "is required"),
    (
        {"task": "notification/http", "with": {"url": "not a url"}},
        "with.url",
        "'not a url' is not a URL",
    ),
    (
        {"task": "notification/http", "with": {"url": "file:///etc/passwd"}},
        "with.url",
        "scheme 'file' is not allowed: http or https only",
    ),
    (
        {"task": "notification/slack", "with": {"url": "gopher://x"}},
        "with.url",
        "scheme 'gopher' is not allowed",
    ),
    (
        {"task": "common/exec", "with": {"cmd": "true", "timeout": 1e9}},
        "with.timeout",
        "at most 3600",
    ),
    (
        {"task": "common/readiness", "with": {"numRetries": 10**9}},
        "with.numRetries",
        "must be at most 1000",
    ),
    (
        {"task": "metrics/collect", "with": {"versions": [{"name": "v1", "url": "ftp://x"}]}},
        "with.versions[0].url",
        "scheme 'ftp' is not allowed",
    ),
    (
        {"task": "metrics/collect", "with": {"versions": [{"name": "v1"}]}},
        "with.versions[0].url",
        "is required",
    ),
    ({"task": "metrics/collect"}, "with.versions", "is required"),
    (
        {
            "task": "metrics/collect",
            "with": {"versions": [{"name": "v1", "url": "http://a"}], "time": "9999h"},
        },
        "with.time",
        "longer than 3600 seconds",
    ),
    (
        {
            "task": "metrics/collect",
            "with": {"versions": [{"name": "v1", "url": "http://a"}], "numQueries": 10**12},
        },
        "with.numQueries",
        "must be at most 100000",
    ),
    ({"run": "echo @< .Spec.Nope >@"}, "run", "'@< .Spec.Nope >@': .Spec has no field Nope"),
    ({"run": "echo @< .Vars.nope >@"}, "run", "no version has a variable 'nope'"),
    ({"run": 'echo @< .Secret "token" >@'}, "run", "the task has no `secret` to read"),
    ({"run": "echo @< len(.Name) >@"}, "run", "not a field path"),
    ({"run": "echo ok", "with": {"timeout": -1}}, "with.timeout", "greater than 0"),
    (
        {"task": "helm/upgrade", "with": {"release": "r", "chart": "c-{{ .nope }}"}},
        "with.chart",
        "no version has a variable 'nope'",
    ),
    (
        {
            "task": "notification/http",
            "with": {"url": "http://a", "body": {"w": "@< .Status.Winner >@"}},
        },
        "with.body",
        ".Status has no field Winner",
    ),
    (
        {"task": "common/apply", "with": {"manifest": "a: [1,\n"}},
        "with.manifest",
        "YAML syntax error",
    ),
]


@pytest.mark.parametrize(
    ("task", "field", "message"), CASES, ids=[f"{c[1]}:{c[2]}"[:60] for c in CASES]
)
def test_bad_task_inputs_are_refused_naming_the_field(
    task: dict[str, Any], field: str, message: str
) -> None:
    found = with_task(task)
    assert any(line.startswith(f"{FINISH}.{field}: ") and message in line for line in found), found


GOOD = [
    {"run": "echo @< .Status.VersionRecommendedForPromotion >@ @< .Vars.promote >@ @< .Name >@"},
    {"run": 'echo @< .Secret "token" >@', "with": {"secret": "creds"}},
    {
        "run": "echo @< .Spec.Strategy.Actions >@ @< .Status.Analysis.WinnerAssessment.Data.winner >@"
    },
    {
        "task": "notification/http",
        "with": {"url": "https://hooks.example/x", "body": {"v": "@< .Vars.promote >@"}},
    },
    {"task": "common/exec", "with": {"cmd": "echo", "args": ["{{ .promote }}"], "timeout": 3600}},
    {
        "task": "helm/upgrade",
        "with": {"release": "r", "chart": "c", "set": {"image": "@< .Vars.promote >@"}},
    },
    {
        "task": "metrics/collect",
        "with": {"versions": [{"name": "v1", "url": "http://127.0.0.1:8080"}], "time": "1h"},
    },
    {"task": "common/readiness", "with": {"objRefs": [{"kind": "ksvc", "name": "app"}]}},
    {
        "task": "common/apply",
        "with": {"manifest": "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n"},
    },
]


@pytest.mark.parametrize("task", GOOD, ids=[str(t)[:50] for t in GOOD])
def test_good_task_inputs_pass(task: dict[str, Any]) -> None:
    assert with_task(task) == []
