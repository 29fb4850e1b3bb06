"""A namespace is a boundary for Secrets at run time too: a metric's secret is read only from a
namespace that both the metric's and the experiment's namespace may read (their own, or what
ITER8_ALLOWED_SECRET_NAMESPACES allows). Refused secrets are not even looked up, and the
backend receives nothing."""

from __future__ import annotations

import pytest

from iter8.metrics.registry import fetch_all
from iter8.metrics.secrets import from_mapping
from tests.metrics.backend import Answer, Backend
from tests.metrics.builders import metric, version

SECRETS = {
    "kube-system/admin": {"token": "cluster-admin-token"},
    "team-a/creds": {"token": "team-a-token"},
    "team-b/creds": {"token": "team-b-token"},
}


@pytest.fixture(autouse=True)
def no_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ITER8_ALLOWED_SECRET_NAMESPACES", raising=False)


def _fetch(
    backend: Backend, metric_namespace: str, secret: str, experiment_namespace: str
) -> tuple[object, list[str]]:
    for data in SECRETS.values():
        backend.routes[f"/steal/{data['token']}"] = Answer(body='{"value": 1}')
    asked: list[str] = []

    def source(namespace: str, name: str) -> dict[str, str]:
        asked.append(f"{namespace}/{name}")
        return dict(from_mapping(SECRETS)(namespace, name))

    m = metric(
        "m",
        metric_namespace,
        urlTemplate=f"{backend.url}/steal/${{token}}",
        secret=secret,
        jqExpression=".value",
    )
    result = fetch_all(
        [m],
        [version("v1")],
        elapsed_seconds=1,
        secrets=source,
        experiment_namespace=experiment_namespace,
    )
    return result[m.key]["v1"], asked


@pytest.mark.parametrize(
    ("metric_namespace", "secret", "experiment_namespace", "message"),
    [
        # a Metric author in team-a reaches for the cluster's credentials
        ("team-a", "kube-system/admin", "team-a", "outside the experiment's namespace 'team-a'"),
        # a Metric in team-a, used by an experiment of team-b, spends team-a's credentials
        ("team-a", "team-a/creds", "team-b", "outside the experiment's namespace 'team-b'"),
        # a shared Metric (Iter8's namespace) naming a tenant's Secret
        ("iter8-system", "team-b/creds", "team-b", "outside the metric's namespace"),
        # a bare name is Iter8's namespace (Iter8 v2), which a tenant may not read by default
        ("team-a", "creds", "team-a", "secret iter8-system/creds is outside"),
    ],
)
def test_a_secret_outside_the_namespaces_is_not_read_nor_sent(
    http_backend: Backend,
    metric_namespace: str,
    secret: str,
    experiment_namespace: str,
    message: str,
) -> None:
    observation, asked = _fetch(http_backend, metric_namespace, secret, experiment_namespace)
    assert observation.outcome == "error"  # type: ignore[attr-defined]
    assert message in (observation.message or "")  # type: ignore[attr-defined]
    assert "ITER8_ALLOWED_SECRET_NAMESPACES=" in (observation.message or "")  # type: ignore[attr-defined]
    assert asked == []
    assert http_backend.seen == []


def test_the_own_namespace_is_always_readable(http_backend: Backend) -> None:
    observation, asked = _fetch(http_backend, "team-a", "team-a/creds", "team-a")
    assert observation.value == 1  # type: ignore[attr-defined]
    assert asked == ["team-a/creds"]
    assert http_backend.seen[0].path == "/steal/team-a-token"


def test_an_operator_may_allow_another_namespace(
    http_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITER8_ALLOWED_SECRET_NAMESPACES", "team-a:kube-system")
    observation, asked = _fetch(http_backend, "team-a", "kube-system/admin", "team-a")
    assert observation.value == 1  # type: ignore[attr-defined]
    assert asked == ["kube-system/admin"]
    refused, _ = _fetch(http_backend, "team-b", "kube-system/admin", "team-b")
    assert refused.outcome == "error"  # type: ignore[attr-defined]
