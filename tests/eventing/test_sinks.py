"""Notification sinks, served on 127.0.0.1 and sent events the way a broker sends them.

A local receiver stands in for the webhook server and for Slack (which cannot run here): it
records exactly what the notifier posted, so the body, the signature and the Slack JSON are
checked byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import socket
from collections.abc import Iterator

import httpx
import pytest
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from eventing.broker.deadletter import dead_letter
from eventing.broker.outcome import Outcome
from eventing.broker.wire import decode, header_map
from eventing.broker.wire import to_binary as wire_binary
from eventing.sinks.app import serve_sink
from eventing.sinks.console import ConsoleNotifier
from eventing.sinks.notifier import configured_notifiers, notifier_types
from eventing.sinks.slack import SlackNotifier
from eventing.sinks.webhook import SIGNATURE_HEADER, WebhookNotifier
from iter8.events import EventType, ExperimentRef, experiment_event
from tests.eventing.test_sources_capture import Capture

REF = ExperimentRef(namespace="default", name="canary", uid="u-1")
SECRET = "not-for-logs-5f1c"


def _weights_applied() -> CloudEvent:
    weights = [{"name": "v1", "value": 40}, {"name": "v2", "value": 60}]
    return experiment_event(EventType.WEIGHTS_APPLIED, "route", REF, 3, weights=weights)


def _promoted() -> CloudEvent:
    return experiment_event(
        EventType.PROMOTED,
        "promote",
        REF,
        10,
        outcome="promote",
        version="v2",
        reason="v2 <beats> v1 & meets\nevery objective",
    )


def _post(url: str, event: CloudEvent) -> httpx.Response:
    headers, body = to_binary(event)
    return httpx.post(url, headers=headers, content=body)


def _accepted(response: httpx.Response) -> bool:
    """What a Knative broker counts as delivered without a reply: 2xx and an empty body."""
    return response.status_code == 202 and response.content == b""


@pytest.fixture
def downstream() -> Iterator[Capture]:
    with Capture(default=200) as receiver:
        yield receiver


def test_console_writes_one_line_per_event() -> None:
    stream = io.StringIO()
    with serve_sink(ConsoleNotifier(stream)) as sink:
        assert _accepted(_post(sink.url, _weights_applied()))
        assert _accepted(_post(sink.url, _promoted()))
        assert sink.flush()
    assert stream.getvalue().splitlines() == [
        "default/canary: weights.applied, iteration 3 — weights v1=40, v2=60",
        "default/canary: experiment.promoted, iteration 10 — outcome promote; version v2; "
        "reason v2 <beats> v1 & meets every objective",
    ]


def test_console_says_why_a_dead_lettered_event_failed() -> None:
    """The dead-letter sink's line names where delivery failed, the code and the body, from the
    `knativeerror*` extensions exactly as the broker writes them."""
    headers, body = to_binary(_weights_applied())
    original = decode(header_map(headers.items()), body)
    failure = Outcome(status=500, ok=False, body=b"store unreachable\n")
    letter = dead_letter(original, "http://127.0.0.1:9/hooks/T0K3N?sig=s1gn", failure)
    letter_headers, letter_body = wire_binary(letter)
    stream = io.StringIO()
    with serve_sink(ConsoleNotifier(stream)) as sink:
        posted = httpx.post(sink.url, headers=letter_headers, content=letter_body)
        assert _accepted(posted)
        assert sink.flush()
    assert stream.getvalue().splitlines() == [
        "default/canary: weights.applied, iteration 3 — weights v1=40, v2=60; "
        "dead-lettered at http://127.0.0.1:9 with 500: store unreachable"
    ]  # the subscriber's URL by scheme and host: a webhook's path or query may be its secret


def test_console_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="iter8.notifications")
    ConsoleNotifier().notify(_weights_applied())
    assert [r.getMessage() for r in caplog.records if r.name == "iter8.notifications"] == [
        "default/canary: weights.applied, iteration 3 — weights v1=40, v2=60"
    ]


def test_webhook_posts_the_event_signed_over_the_exact_body(downstream: Capture) -> None:
    event = _weights_applied()
    with serve_sink(WebhookNotifier(downstream.url, secret=SECRET)) as sink:
        assert _accepted(_post(sink.url, event))
        [request] = downstream.wait_for(1)
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER.lower()] == f"sha256={expected}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-iter8-event"] == "tools.iter8.weights.applied"
    doc = json.loads(request.body)
    assert doc["id"] == request.headers["x-iter8-delivery"] == event["id"]
    assert {k: doc[k] for k in ("specversion", "type", "source", "subject")} == {
        "specversion": "1.0",
        "type": "tools.iter8.weights.applied",
        "source": "/iter8/route",
        "subject": "default/canary",
    }
    assert (doc["experiment"], doc["iteration"]) == ("default/canary", "3")
    assert doc["data"] == {
        "namespace": "default",
        "name": "canary",
        "uid": "u-1",
        "iteration": 3,
        "weights": [{"name": "v1", "value": 40}, {"name": "v2", "value": 60}],
    }


def test_webhook_without_a_secret_is_unsigned(downstream: Capture) -> None:
    WebhookNotifier(downstream.url).notify(_promoted())
    [request] = downstream.wait_for(1)
    assert SIGNATURE_HEADER.lower() not in request.headers
    assert json.loads(request.body)["data"]["version"] == "v2"


def test_slack_message_shape(downstream: Capture) -> None:
    with serve_sink(SlackNotifier(downstream.url + "services/T0/B0/XYZ")) as sink:
        assert _accepted(_post(sink.url, _promoted()))
        [request] = downstream.wait_for(1)
    assert request.path == "/services/T0/B0/XYZ"
    payload = json.loads(request.body)
    assert set(payload) == {"text", "blocks"}
    assert payload["text"].startswith("default/canary: experiment.promoted, iteration 10")
    header, section, context = payload["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert "default/canary" in header["text"]["text"]
    assert section["type"] == "section"
    fields = {f["text"].split("\n", 1)[0]: f["text"].split("\n", 1)[1] for f in section["fields"]}
    assert all(f["type"] == "mrkdwn" for f in section["fields"])
    assert fields["*Experiment*"] == "default/canary"
    assert fields["*Event*"] == "experiment.promoted"
    assert fields["*Iteration*"] == "10"
    assert fields["*Version*"] == "v2"
    assert fields["*Reason*"] == "v2 &lt;beats&gt; v1 &amp; meets every objective"
    assert context["type"] == "context"
    assert "tools.iter8.experiment.promoted" in context["elements"][0]["text"]


def test_slack_lists_weights_and_the_winner(downstream: Capture) -> None:
    event = experiment_event(
        EventType.ANALYSIS_COMPLETED,
        "analyze",
        REF,
        4,
        weights=[{"name": "v1", "value": 5}, {"name": "v2", "value": 95}],
        winnerAssessment={"winnerFound": True, "winner": "v2"},
    )
    SlackNotifier(downstream.url).notify(event)
    [request] = downstream.wait_for(1)
    texts = [f["text"] for f in json.loads(request.body)["blocks"][1]["fields"]]
    assert "*Weights*\nv1=5, v2=95" in texts and "*Winner*\nv2" in texts


def test_a_failing_downstream_still_gets_202_and_is_retried_a_bounded_number_of_times(
    downstream: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    downstream.default = 503
    notifier = WebhookNotifier(downstream.url + "hook/path-token", secret=SECRET, attempts=3)
    with serve_sink(notifier) as sink:
        assert _accepted(_post(sink.url, _weights_applied()))
        assert sink.flush()
        assert sink.dispatchers[0].failed == 1
    assert len(downstream.requests) == 3
    logged = caplog.text + repr(notifier)
    assert "HTTP 503" in caplog.text
    assert SECRET not in logged and "path-token" not in logged


def test_an_unreachable_downstream_still_gets_202(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with serve_sink(SlackNotifier(f"http://127.0.0.1:{port}/secret-path", attempts=2)) as sink:
        assert _accepted(_post(sink.url, _promoted()))
        assert sink.flush()
        assert sink.dispatchers[0].failed == 1
    assert "ConnectError" in caplog.text and "secret-path" not in caplog.text


def test_a_url_with_credentials_is_reported_by_scheme_and_host(
    downstream: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    downstream.default = 401
    port = downstream.url.split(":")[2].split("/")[0]
    url = f"http://hook-user:pa55word@127.0.0.1:{port}/services/T0K3N?sig=s1gn"
    notifier = WebhookNotifier(url, attempts=1)
    with serve_sink(notifier) as sink:
        assert _accepted(_post(sink.url, _weights_applied()))
        assert sink.flush()
    logged = caplog.text + repr(notifier)
    assert f"POST http://127.0.0.1:{port} failed: HTTP 401" in caplog.text
    for hidden in ("pa55word", "hook-user", "T0K3N", "s1gn"):
        assert hidden not in logged


def test_a_refusing_downstream_is_not_retried(downstream: Capture) -> None:
    downstream.default = 403
    with serve_sink(SlackNotifier(downstream.url)) as sink:
        assert _accepted(_post(sink.url, _promoted()))
        assert sink.flush()
    assert len(downstream.requests) == 1


def test_bad_requests_and_other_event_types() -> None:
    stream = io.StringIO()
    with serve_sink(ConsoleNotifier(stream)) as sink:
        not_an_event = httpx.post(
            sink.url, content=b"hello", headers={"content-type": "text/plain"}
        )
        assert not_an_event.status_code == 400
        assert httpx.get(sink.url).status_code == 405
        ping = CloudEvent({"type": "dev.knative.sources.ping", "source": "/apis/v1/x"}, None)
        assert _accepted(_post(sink.url, ping))  # not a notification: accepted, not told
        assert _accepted(_post(sink.url, _weights_applied()))
        assert sink.flush()
    assert len(stream.getvalue().splitlines()) == 1


def test_types_limit_what_is_notified() -> None:
    stream = io.StringIO()
    with serve_sink(ConsoleNotifier(stream), types={"tools.iter8.experiment.promoted"}) as sink:
        _post(sink.url, _weights_applied())
        _post(sink.url, _promoted())
        assert sink.flush()
    assert "experiment.promoted" in stream.getvalue()
    assert "weights.applied" not in stream.getvalue()


def test_one_sink_many_notifiers(downstream: Capture) -> None:
    stream = io.StringIO()
    with serve_sink([ConsoleNotifier(stream), WebhookNotifier(downstream.url)]) as sink:
        assert _accepted(_post(sink.url, _promoted()))
        assert sink.flush()
    assert len(downstream.requests) == 1 and stream.getvalue().count("\n") == 1


def test_notifiers_are_plugins_configured_by_the_environment() -> None:
    assert set(notifier_types()) == {"console", "slack", "webhook"}
    env = {
        "ITER8_WEBHOOK_URL": "http://127.0.0.1:1/hook",
        "ITER8_WEBHOOK_SECRET": SECRET,
        "ITER8_SLACK_WEBHOOK_URL": "http://127.0.0.1:1/services/x",
        "ITER8_CONSOLE": "stderr",
    }
    found = configured_notifiers(env)
    assert [type(n).__name__ for n in found] == [
        "ConsoleNotifier",
        "SlackNotifier",
        "WebhookNotifier",
    ]
    assert SECRET not in repr(found) and "/hook" not in repr(found)
    assert configured_notifiers({}) == []
