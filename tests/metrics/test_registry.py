"""Provider selection and the promise of `fetch_all`: every metric × version, never an exception."""

from __future__ import annotations

from typing import Any, NoReturn

import pytest

from iter8.metrics.provider import FetchRequest, MetricsProvider
from iter8.metrics.providers.mock import MockProvider
from iter8.metrics.registry import fetch_all, provider_for, providers
from iter8.metrics.secrets import decode, from_mapping
from iter8.security.redact import redact
from tests.metrics.builders import metric, version

MOCK = [{"name": "v1", "level": "10"}, {"name": "v2", "level": "20"}]


def test_one_provider_per_module() -> None:
    assert sorted(providers()) == ["iter8", "mock", "prometheus", "rest"]
    assert all(isinstance(p, MetricsProvider) for p in providers().values())


@pytest.mark.parametrize(
    ("spec", "provider"),
    [
        ({"mock": MOCK, "provider": "iter8"}, "mock"),
        ({"provider": "iter8"}, "iter8"),
        ({"provider": "prometheus", "urlTemplate": "http://p:9090/query"}, "prometheus"),
        ({"urlTemplate": "http://p:9090/api/v1/query"}, "prometheus"),
        ({"urlTemplate": "$url/prom/api/v1/query/"}, "prometheus"),
        ({"urlTemplate": "http://p/api/v1/query_range"}, "rest"),
        ({"provider": "newrelic", "urlTemplate": "https://api.example/v1/x"}, "rest"),
    ],
)
def test_selection(spec: dict[str, Any], provider: str) -> None:
    assert provider_for(metric(**spec)).name == provider


def test_every_metric_and_version_gets_an_observation_even_from_a_broken_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: MockProvider, request: FetchRequest) -> NoReturn:
        raise RuntimeError(f"bug for {request.version.name}")

    counter = metric("c", type="Counter", mock=MOCK)
    monkeypatch.setattr(MockProvider, "fetch", broken)
    builtin = metric("request-count", "iter8-system", provider="iter8")
    result = fetch_all([counter, builtin], [version("v1"), version("v2")], elapsed_seconds=3)
    assert result["ns/c"]["v2"].outcome == "error"
    assert result["ns/c"]["v2"].message == "RuntimeError: bug for v2"
    assert result["iter8-system/request-count"]["v1"].outcome == "no-data"


def test_elapsed_time_is_whole_seconds_and_at_least_one() -> None:
    counter = metric("c", type="Counter", mock=MOCK)
    assert fetch_all([counter], [version("v1")], elapsed_seconds=0.2)["ns/c"]["v1"].value == 10
    assert fetch_all([counter], [version("v1")], elapsed_seconds=2.9)["ns/c"]["v1"].value == 20
    with pytest.raises(ValueError, match="at least 1"):
        FetchRequest(metric=counter, version=version("v1"), elapsed_seconds=0)


def test_a_bare_secret_name_lives_in_the_iter8_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITER8_ALLOWED_SECRET_NAMESPACES", "*")
    asked: list[tuple[str, str]] = []

    def source(namespace: str, name: str) -> dict[str, str]:
        asked.append((namespace, name))
        return {}

    m = metric(urlTemplate="http://127.0.0.1:9/x", secret="creds", jqExpression=".")
    n = metric("n", urlTemplate="http://127.0.0.1:9/x", secret="team/creds", jqExpression=".")
    fetch_all([m, n], [version("v1")], elapsed_seconds=1, secrets=source)
    fetch_all([m], [version("v1")], elapsed_seconds=1, secrets=source, secret_namespace="iter8")
    assert asked == [("iter8-system", "creds"), ("team", "creds"), ("iter8", "creds")]


def test_secrets_decode_and_redact() -> None:
    secret = {"data": {"token": "czNjcjN0"}, "stringData": {"user": "bob"}}
    assert decode(secret) == {"token": "s3cr3t", "user": "bob"}
    assert redact("token s3cr3t or s3cr3t2", {"a": "s3cr3t", "b": "s3cr3t2"}) == "token *** or ***"
    with pytest.raises(LookupError, match='secrets "x" not found in namespace ns'):
        from_mapping({})("ns", "x")


def test_no_metrics_no_observations() -> None:
    assert fetch_all([], [version("v1")], elapsed_seconds=1) == {}
