"""A namespace is a boundary: secrets and objects an experiment or metric names in another
namespace are refused by validation, naming the field, unless the operator's allow-list
(iter8.security.namespaces) permits them. Metric URLs are http(s) only."""

from __future__ import annotations

from typing import Any

import pytest

from iter8.security.namespaces import REFERENCE_NAMESPACES_ENV, SECRET_NAMESPACES_ENV
from tests.validation.test_invalid import problems_of, valid_canary


def metric(spec: dict[str, Any], namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Metric",
        "metadata": {"name": "latency", "namespace": namespace},
        "spec": {"urlTemplate": "http://127.0.0.1:9090/api/v1/query", "jqExpression": ".x", **spec},
    }


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed: http or https only"),
        ("gopher://127.0.0.1:70/x", "scheme 'gopher' is not allowed"),
        ("127.0.0.1:9090/api", "is not a URL"),
        ("/api/v1/query", "is not a URL"),
        ("${url}/api/v1/query", "is not a URL"),
        ("http://:9090/x", "has no host"),
    ],
)
def test_metric_urls_are_http_or_https(url: str, message: str) -> None:
    found = problems_of(metric({"urlTemplate": url}))
    assert len(found) == 1 and found[0].startswith("spec.urlTemplate: ") and message in found[0]


def test_metric_url_placeholders_may_stand_for_host_and_path() -> None:
    spec = {"urlTemplate": "https://${host}:9090/${path}", "secret": "shop/creds"}
    assert problems_of(metric(spec)) == []


@pytest.mark.parametrize(
    ("secret", "allow", "expected"),
    [
        ("shop/creds", "", []),
        ("kube-system/admin", "", ["kube-system/admin is outside the metric's namespace 'shop'"]),
        ("admin", "", ["iter8-system/admin is outside"]),  # bare: Iter8's namespace, as in v2
        ("kube-system/admin", "shop:kube-system", []),
        ("kube-system/admin", "*", []),
        ("kube-system/admin", "other:kube-system", ["outside"]),
    ],
)
def test_a_metric_reads_secrets_of_its_own_namespace(
    secret: str, allow: str, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_NAMESPACES_ENV, allow)
    found = problems_of(metric({"secret": secret, "authType": "Bearer"}))
    assert len(found) == len(expected)
    for line, part in zip(found, expected, strict=True):
        assert line.startswith("spec.secret: secret ") and part in line
        assert f"{SECRET_NAMESPACES_ENV}=shop:" in line


def test_an_experiment_cannot_use_a_metric_reading_another_namespaces_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = valid_canary()
    manifest["spec"]["criteria"]["objectives"][0]["metric"] = "monitoring/latency"
    shared = metric({"secret": "monitoring/creds"}, namespace="monitoring")
    assert problems_of(manifest, shared) == [
        "spec.criteria.objectives[0].metric: metric monitoring/latency: secret "
        "monitoring/creds is outside the experiment's namespace 'shop' (an operator may "
        f"allow it: {SECRET_NAMESPACES_ENV}=shop:monitoring)"
    ]
    monkeypatch.setenv(SECRET_NAMESPACES_ENV, "shop:monitoring")
    assert problems_of(manifest, shared) == []


def test_task_secrets_stay_in_the_experiments_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = valid_canary()
    finish = manifest["spec"]["strategy"]["actions"]["finish"]
    finish[0]["with"] = {"secret": "kube-system/token"}
    finish.append({"task": "notification/http", "with": {"url": "http://a", "secret": "other/s"}})
    finish.append({"task": "notification/slack", "with": {"secret": "shop/slack"}})
    found = problems_of(manifest)
    assert [line.split(": ", 1)[0] for line in found] == [
        "spec.strategy.actions.finish[0].with.secret",
        "spec.strategy.actions.finish[1].with.secret",
    ]
    assert "secret kube-system/token is outside the experiment's namespace 'shop'" in found[0]
    monkeypatch.setenv(SECRET_NAMESPACES_ENV, "shop:kube-system,shop:other")
    assert problems_of(manifest) == []


def test_routed_and_task_objects_stay_in_the_experiments_namespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = valid_canary()
    manifest["spec"]["versionInfo"]["candidates"][0]["weightObjRef"]["namespace"] = "kube-system"
    manifest["spec"]["versionInfo"]["baseline"]["weightObjRef"]["namespace"] = "shop"
    finish = manifest["spec"]["strategy"]["actions"]["finish"]
    finish += [
        {
            "task": "common/readiness",
            "with": {"objRefs": [{"kind": "ksvc", "name": "a", "namespace": "prod"}]},
        },
        {"task": "common/apply", "with": {"namespace": "prod", "manifest": {"kind": "x"}}},
        {"task": "common/apply", "with": {"manifest": [{"metadata": {"namespace": "prod"}}]}},
        {"task": "kustomize/apply", "with": {"dir": "k", "namespace": "prod"}},
        {"task": "helm/upgrade", "with": {"release": "r", "chart": "c", "namespace": "prod"}},
    ]
    found = problems_of(manifest)
    assert [line.split(": ", 1)[0] for line in found] == [
        "spec.versionInfo.candidates[0].weightObjRef.namespace",
        "spec.strategy.actions.finish[1].with.objRefs[0].namespace",
        "spec.strategy.actions.finish[2].with.namespace",
        "spec.strategy.actions.finish[3].with.manifest[0].metadata.namespace",
        "spec.strategy.actions.finish[4].with.namespace",
        "spec.strategy.actions.finish[5].with.namespace",
    ]
    assert found[0].endswith(
        "the routed object's namespace 'kube-system' is outside the experiment's namespace "
        f"'shop' (an operator may allow it: {REFERENCE_NAMESPACES_ENV}=shop:kube-system)"
    )
    monkeypatch.setenv(REFERENCE_NAMESPACES_ENV, "shop:kube-system,shop:prod")
    assert problems_of(manifest) == []


def test_a_namespace_that_is_not_a_dns_label_is_refused() -> None:
    manifest = valid_canary()
    manifest["spec"]["versionInfo"]["baseline"]["weightObjRef"]["namespace"] = "Not/A/Label"
    (line,) = problems_of(manifest)
    assert line.startswith("spec.versionInfo.baseline.weightObjRef.namespace: 'Not/A/Label' is not")
