"""`notification/http` and `notification/slack` against a local receiver on 127.0.0.1."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

from iter8.store.resources import SECRETS
from iter8.store.sqlite import SqliteStore
from iter8.tasks import TaskContext, run_action
from tests.tasks.conftest import Receiver, experiment, tasks


def secret(store: SqliteStore, name: str, **data: str) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    store.create(SECRETS, {"metadata": {"name": name, "namespace": "default"}, "data": encoded})


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing-here"


def test_default_body_is_the_summary_and_the_experiment(
    context: TaskContext, receiver: Receiver
) -> None:
    result = run_action(
        tasks({"task": "notification/http", "with": {"url": receiver.url}}), context
    )
    assert result.ok, result.message
    (request,) = receiver.requests
    assert request.method == "POST" and request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["summary"] == {
        "winnerFound": True,
        "winner": "sample-app-v2",
        "versionRecommendedForPromotion": "sample-app-v2",
        "lastRecommendedWeights": [
            {"name": "sample-app-v1", "value": 5},
            {"name": "sample-app-v2", "value": 95},
        ],
    }
    assert body["experiment"]["metadata"]["name"] == "quickstart-exp"
    assert body["experiment"]["spec"]["target"] == "default/sample-app"


def test_bearer_token_from_a_secret(
    context: TaskContext, receiver: Receiver, store: SqliteStore
) -> None:
    secret(store, "ci-token", token="abc123")
    spec = {"url": receiver.url, "authType": "Bearer", "secret": "ci-token"}
    assert run_action(tasks({"task": "notification/http", "with": spec}), context).ok
    assert receiver.requests[0].headers["authorization"] == "Bearer abc123"


def test_basic_auth_from_a_secret(
    context: TaskContext, receiver: Receiver, store: SqliteStore
) -> None:
    secret(store, "basic", username="iter8", password="pa:ss")
    spec = {"url": receiver.url, "authType": "Basic", "secret": "default/basic"}
    assert run_action(tasks({"task": "notification/http", "with": spec}), context).ok
    expected = "Basic " + base64.b64encode(b"iter8:pa:ss").decode()
    assert receiver.requests[0].headers["authorization"] == expected


def test_api_key_headers_templated_from_the_secret_and_a_custom_body(
    context: TaskContext, receiver: Receiver, store: SqliteStore
) -> None:
    secret(store, "key", apikey="k-42")
    spec = {
        "url": receiver.url,
        "method": "PUT",
        "authType": "APIKey",
        "secret": "key",
        "headers": [{"name": "X-API-Key", "value": "{{ .apikey }}"}],
        "body": {
            "event_type": "iter8",
            "client_payload": {"winner": "@< .Status.VersionRecommendedForPromotion >@"},
        },
    }
    assert run_action(tasks({"task": "notification/http", "with": spec}), context).ok
    (request,) = receiver.requests
    assert request.method == "PUT" and request.headers["x-api-key"] == "k-42"
    assert request.json() == {"event_type": "iter8", "client_payload": {"winner": "sample-app-v2"}}


def test_get_sends_no_body(context: TaskContext, receiver: Receiver) -> None:
    spec = {"url": receiver.url, "method": "GET"}
    assert run_action(tasks({"task": "notification/http", "with": spec}), context).ok
    assert receiver.requests[0].method == "GET" and receiver.requests[0].body == b""


def test_failures_are_ignored_by_default(context: TaskContext, receiver: Receiver) -> None:
    receiver.status = 500
    result = run_action(
        tasks({"task": "notification/http", "with": {"url": receiver.url}}), context
    )
    assert result.ok
    assert result.outcomes[0].message.startswith("ignored (ignoreFailure): POST")
    assert "answered 500" in result.outcomes[0].message
    refused = run_action(
        tasks({"task": "notification/http", "with": {"url": closed_port_url()}}), context
    )
    assert refused.ok and "ConnectError" in refused.outcomes[0].message


def test_failures_fail_the_action_when_not_ignored(
    context: TaskContext, receiver: Receiver
) -> None:
    receiver.status = 403
    spec = {"url": receiver.url, "ignoreFailure": False}
    result = run_action(tasks({"task": "notification/http", "with": spec}), context)
    assert not result.ok and "answered 403" in result.message


def test_secret_values_never_appear_in_messages(context: TaskContext, store: SqliteStore) -> None:
    secret(store, "hook", url=closed_port_url() + "?token=hushhush")
    spec = {"secret": "hook", "ignoreFailure": False}
    result = run_action(tasks({"task": "notification/slack", "with": spec}), context)
    assert not result.ok and "hushhush" not in result.message
    assert "POST http://127.0.0.1:" in result.message


def test_a_failing_endpoint_is_reported_by_scheme_and_host_only(
    context: TaskContext, receiver: Receiver
) -> None:
    """Webhook URLs carry their credential in the path or the query; it must not reach the
    status (nor events, logs or `describe`, which show the same message)."""
    receiver.status = 500
    url = receiver.url + "/T0KEN-in-the-path?sig=q5ecret%2Fvalue"
    result = run_action(tasks({"task": "notification/http", "with": {"url": url}}), context)
    message = result.outcomes[0].message
    assert "answered 500" in message
    assert f"POST {receiver.url.rsplit('/', 1)[0]} " in message
    for hidden in ("T0KEN", "q5ecret", "sig="):
        assert hidden not in message
    refused = run_action(
        tasks({"task": "notification/http", "with": {"url": closed_port_url() + "?k=hushhush"}}),
        context,
    )
    assert "ConnectError" in refused.outcomes[0].message
    assert "hushhush" not in refused.outcomes[0].message
    assert "nothing-here" not in refused.outcomes[0].message


def test_a_401_that_echoes_the_basic_credential_keeps_it_out_of_the_message(
    context: TaskContext, receiver: Receiver, store: SqliteStore
) -> None:
    receiver.status, receiver.echo_authorization = 401, True
    secret(store, "basic", username="iter8", password="pa:ss-w0rd")
    spec = {"url": receiver.url, "authType": "Basic", "secret": "basic", "ignoreFailure": False}
    result = run_action(tasks({"task": "notification/http", "with": spec}), context)
    assert not result.ok and "answered 401: denied: Basic ***" in result.message
    assert base64.b64encode(b"iter8:pa:ss-w0rd").decode() not in result.message


def test_a_missing_secret_is_a_clear_failure(context: TaskContext, receiver: Receiver) -> None:
    spec = {"url": receiver.url, "authType": "Bearer", "secret": "nope", "ignoreFailure": False}
    result = run_action(tasks({"task": "notification/http", "with": spec}), context)
    assert not result.ok and "secret default/nope not found" in result.message
    assert receiver.requests == []


def test_slack_message_summarises_the_experiment(
    store: SqliteStore, tmp_path: Path, receiver: Receiver
) -> None:
    exp = experiment(name="exp-<!channel>")
    context = TaskContext(experiment=exp, store=store, work_dir=tmp_path)
    spec = {"url": receiver.url, "channel": "#releases", "text": "Done: @< .Spec.Target >@"}
    assert run_action(tasks({"task": "notification/slack", "with": spec}), context).ok
    message = receiver.requests[0].json()
    assert message["channel"] == "#releases"
    text = message["text"]
    assert text.startswith("Done: default/sample-app\nExperiment default/exp-&lt;!channel&gt;")
    assert "Winner: sample-app-v2" in text and "sample-app-v1=5, sample-app-v2=95" in text
    assert [block["type"] for block in message["blocks"]] == ["section", "section"]


def test_slack_webhook_from_a_secret(
    context: TaskContext, receiver: Receiver, store: SqliteStore
) -> None:
    secret(store, "slack", url=receiver.url)
    assert run_action(
        tasks({"task": "notification/slack", "with": {"secret": "slack"}}), context
    ).ok
    assert len(receiver.requests) == 1
    ignored = run_action(tasks({"task": "notification/slack"}), context)
    assert ignored.ok and "needs `url`" in ignored.outcomes[0].message
    strict = {"task": "notification/slack", "with": {"ignoreFailure": False}}
    result = run_action(tasks(strict), context)
    assert not result.ok and "needs `url`" in result.message


def test_ignore_failure_covers_a_missing_secret(context: TaskContext, receiver: Receiver) -> None:
    spec = {"url": receiver.url, "authType": "Bearer", "secret": "nope"}
    result = run_action(tasks({"task": "notification/http", "with": spec}), context)
    assert result.ok
    assert result.outcomes[0].details == {"ignoredFailure": "secret default/nope not found"}
    assert receiver.requests == []
