"""The generic REST provider against a real local HTTP server: exactly Iter8 v2's query (§2.2)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from iter8.analytics.observations import Observation
from iter8.api.metric import Metric
from iter8.metrics.provider import FetchRequest
from iter8.metrics.registry import fetch, fetch_all, provider_for
from iter8.metrics.secrets import SecretSource, from_mapping, from_store
from tests.metrics.backend import Answer, Backend
from tests.metrics.builders import metric, params, version

VALUE = Answer(body='{"data": {"value": 42.5, "values": [3, 4]}}')


@pytest.fixture(autouse=True)
def operator_allows_iter8_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """These metrics (namespace ns) read Iter8's Secrets, as an operator may allow."""
    monkeypatch.setenv("ITER8_ALLOWED_SECRET_NAMESPACES", "ns:iter8-system,ns:other")


def get(
    m: Metric,
    secret: Mapping[str, str] | None = None,
    elapsed_seconds: int = 1,
    timeout: float = 5.0,
) -> Observation:
    v1 = version("v1", ns="prod")
    return fetch(FetchRequest(m, v1, elapsed_seconds, secret, timeout))


def test_get_templates_params_with_name_variables_and_elapsed_time(http_backend: Backend) -> None:
    http_backend.routes["/q"] = VALUE
    m = metric(
        urlTemplate=f"{http_backend.url}/q",
        params=params(query='rate(x{app="$name",ns="${ns}",x="$unknown"}[${elapsedTime}s])'),
        jqExpression=".data.value",
    )
    assert provider_for(m).name == "rest"
    request = FetchRequest(metric=m, version=version("v1", ns="prod"), elapsed_seconds=300)

    assert fetch(request) == Observation(value=42.5)
    (seen,) = http_backend.seen
    assert seen.method == "GET"
    assert seen.param("query") == 'rate(x{app="v1",ns="prod",x="$unknown"}[300s])'


def test_a_version_variable_can_override_name_but_not_elapsed_time(http_backend: Backend) -> None:
    http_backend.routes["/q"] = VALUE
    m = metric(
        urlTemplate=f"{http_backend.url}/q",
        params=params(a="$name", b="$elapsedTime"),
        jqExpression=".data.value",
    )
    v = version("v1", name="renamed", elapsedTime="99")
    assert fetch(FetchRequest(metric=m, version=v, elapsed_seconds=7)).known
    assert (http_backend.seen[0].param("a"), http_backend.seen[0].param("b")) == ("renamed", "7")


def test_post_sends_the_templated_body_as_json(http_backend: Backend) -> None:
    http_backend.routes["/q"] = VALUE
    m = metric(
        urlTemplate=f"{http_backend.url}/q",
        method="POST",
        body='{"version": "$name", "last": "${elapsedTime}s", "ns": "$ns"}',
        jqExpression=".data.values[1]",
    )
    assert get(m, elapsed_seconds=60) == Observation(value=4)
    (seen,) = http_backend.seen
    assert seen.method == "POST"
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == {"version": "v1", "last": "60s", "ns": "prod"}


def test_a_body_that_is_not_json_after_templating_is_an_error(http_backend: Backend) -> None:
    m = metric(urlTemplate=f"{http_backend.url}/q", method="POST", body="{$name}", jqExpression=".")
    observation = get(m)
    assert observation.outcome == "error"
    assert "body is not JSON" in (observation.message or "")
    assert http_backend.seen == []


def test_the_first_jq_output_is_the_value(http_backend: Backend) -> None:
    http_backend.routes["/q"] = VALUE
    m = metric(urlTemplate=f"{http_backend.url}/q", jqExpression=".data.values[]")
    assert get(m).value == 3


@pytest.fixture(params=["store", "mapping"])
def secrets(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SecretSource]:
    """The metric's secret `iter8-system/creds`, from an embedded store or a plain mapping."""
    data = {"username": "alice", "password": "pa55-word", "token": "t0k3n-value", "key": "k3y"}
    if request.param == "mapping":
        yield from_mapping({"iter8-system/creds": data})
        return
    sqlite = pytest.importorskip("iter8.store.sqlite")
    from iter8.store.resources import SECRETS

    store = sqlite.SqliteStore(tmp_path / "store.db")
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    store.create(
        SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": "iter8-system"},
            "data": encoded,
        },
    )
    yield from_store(store)
    store.close()


def fetch_one(m: Metric, secrets: SecretSource) -> Observation:
    return fetch_all([m], [version("v1")], elapsed_seconds=1, secrets=secrets)[m.key]["v1"]


def test_basic_auth_comes_from_the_secret(http_backend: Backend, secrets: SecretSource) -> None:
    http_backend.routes["/q"] = VALUE
    m = metric(
        urlTemplate=f"{http_backend.url}/q",
        authType="Basic",
        secret="creds",
        jqExpression=".data.value",
    )
    assert fetch_one(m, secrets).value == 42.5
    expected = base64.b64encode(b"alice:pa55-word").decode()
    assert http_backend.seen[0].headers["authorization"] == f"Basic {expected}"


@pytest.mark.parametrize("auth_type", ["Bearer", "APIKey"])
def test_headers_are_templated_with_the_secret_for_bearer_and_apikey(
    http_backend: Backend, secrets: SecretSource, auth_type: str
) -> None:
    http_backend.routes["/q"] = VALUE
    m = metric(
        urlTemplate=f"{http_backend.url}/q",
        authType=auth_type,
        secret="iter8-system/creds",
        headerTemplates=params(Authorization="Bearer ${token}", **{"X-API-Key": "$key"}),
        jqExpression=".data.value",
    )
    assert fetch_one(m, secrets).known
    headers = http_backend.seen[0].headers
    assert headers["authorization"] == "Bearer t0k3n-value"
    assert headers["x-api-key"] == "k3y"


def test_without_an_auth_type_headers_are_sent_as_written(
    http_backend: Backend, secrets: SecretSource
) -> None:
    http_backend.routes["/q"] = VALUE
    m = metric(
        urlTemplate=f"{http_backend.url}/q",
        secret="creds",
        headerTemplates=params(**{"X-Token": "$token"}),
        jqExpression=".data.value",
    )
    assert fetch_one(m, secrets).known
    assert http_backend.seen[0].headers["x-token"] == "$token"


def test_the_url_is_templated_with_the_secret(http_backend: Backend) -> None:
    http_backend.routes["/tenant/t0k3n/q"] = VALUE
    port = http_backend.url.rsplit(":", 1)[1]
    m = metric(
        urlTemplate=f"http://127.0.0.1:{port}/tenant/${{token}}/q",
        secret="creds",
        jqExpression=".data.value",
    )
    assert fetch_one(m, from_mapping({"iter8-system/creds": {"token": "t0k3n"}})).value == 42.5


def test_secret_values_never_appear_in_messages(http_backend: Backend) -> None:
    http_backend.routes["/q"] = Answer(401, '{"error": "bad token t0k3n-value"}')
    m = metric(
        urlTemplate=f"{http_backend.url}/q",
        authType="Bearer",
        secret="creds",
        headerTemplates=params(Authorization="Bearer $token"),
        jqExpression=".",
    )
    observation = fetch_one(m, from_mapping({"iter8-system/creds": {"token": "t0k3n-value"}}))
    assert observation.outcome == "error"
    assert observation.message == "HTTP 401: bad token ***"


def test_a_missing_secret_is_an_error_for_every_version(http_backend: Backend) -> None:
    m = metric(urlTemplate=f"{http_backend.url}/q", secret="other/nope", jqExpression=".")
    result = fetch_all(
        [m], [version("v1"), version("v2")], elapsed_seconds=1, secrets=from_mapping({})
    )
    for observation in result[m.key].values():
        assert observation.outcome == "error"
        assert "secret other/nope" in (observation.message or "")
    assert http_backend.seen == []


def test_basic_auth_without_username_is_an_error(http_backend: Backend) -> None:
    m = metric(urlTemplate=f"{http_backend.url}/q", authType="Basic", secret="s", jqExpression=".")
    observation = fetch_one(m, from_mapping({"iter8-system/s": {"password": "x"}}))
    assert observation.outcome == "error"
    assert "username and password" in (observation.message or "")


@pytest.mark.parametrize(
    ("answer", "outcome", "words"),
    [
        (Answer(500, "database on fire"), "error", "HTTP 500: database on fire"),
        (Answer(404, '{"error": "no such metric"}'), "error", "HTTP 404: no such metric"),
        (Answer(200, "<html>hello</html>", content_type="text/html"), "error", "not JSON"),
        (Answer(body='{"v": NaN}'), "nan", "gave NaN"),
        (Answer(body='{"v": "NaN"}'), "nan", "gave NaN"),
        (Answer(body='{"v": null}'), "no-data", "gave null"),
        (Answer(body='{"v": "+Inf"}'), "error", "not a finite number"),
        (Answer(body='{"v": "fast"}'), "error", "cannot be parsed as a number"),
        (Answer(body='{"v": true}'), "error", "not a number"),
    ],
)
def test_failures_have_distinct_outcomes_and_the_backends_words(
    http_backend: Backend, answer: Answer, outcome: str, words: str
) -> None:
    http_backend.routes["/q"] = answer
    expression = ".v" if answer.body in ('{"v": null}', '{"v": true}') else ".v | tonumber"
    observation = get(metric(urlTemplate=f"{http_backend.url}/q", jqExpression=expression))
    assert (observation.outcome, observation.value) == (outcome, None)
    assert words in (observation.message or "")


def test_jq_without_output_is_empty(http_backend: Backend) -> None:
    http_backend.routes["/q"] = Answer(body='{"items": []}')
    observation = get(metric(urlTemplate=f"{http_backend.url}/q", jqExpression=".items[]"))
    assert observation.outcome == "empty"


def test_a_slow_backend_times_out(http_backend: Backend) -> None:
    http_backend.routes["/q"] = Answer(body="{}", delay=30)
    observation = get(metric(urlTemplate=f"{http_backend.url}/q", jqExpression="."), timeout=0.2)
    assert observation.outcome == "timeout"
    assert "0.2 s" in (observation.message or "")


def test_a_refused_connection_is_an_error() -> None:
    observation = get(metric(urlTemplate="http://127.0.0.1:9/q", jqExpression="."))
    assert observation.outcome == "error"
    assert "ConnectError" in (observation.message or "")


def test_a_jq_expression_that_does_not_compile_is_an_error(http_backend: Backend) -> None:
    http_backend.routes["/q"] = VALUE
    observation = get(metric(urlTemplate=f"{http_backend.url}/q", jqExpression=".data.["))
    assert observation.outcome == "error"
    assert "does not compile" in (observation.message or "")
