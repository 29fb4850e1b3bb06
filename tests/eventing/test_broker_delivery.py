"""Delivery as Knative's MT channel broker does it, observed from real subscribers on 127.0.0.1:
headers, replies, TTL, retries and backoff (on an injected clock), dead letters, sync and async."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator

import pytest
from cloudevents.conversion import to_binary

from eventing.broker import RecordingClock
from tests.eventing.test_broker_servers import (
    BROKER,
    Request,
    Response,
    Subscriber,
    event,
    post,
    reply_with,
    running_broker,
    status,
    trigger,
)

DEAD_LETTER = """\
delivery:
  retry: {retry}
  backoffPolicy: {policy}
  backoffDelay: PT1S
  deadLetterSink:
    ref: {{apiVersion: serving.knative.dev/v1, kind: Service, name: dls}}
"""


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    server = Subscriber()
    yield server
    server.stop()


@pytest.fixture
def dls() -> Iterator[Subscriber]:
    server = Subscriber()
    yield server
    server.stop()


def replying(type_: str, **attributes: str) -> Subscriber:
    return Subscriber(lambda _: reply_with(event(type_, **attributes)))


# --- what the subscriber receives ---------------------------------------------------------------


def test_delivery_is_binary_with_prefer_reply_and_namespace(subscriber: Subscriber) -> None:
    with running_broker(BROKER + trigger("t", "sub"), {"sub": subscriber}) as broker:
        ce = event(subject="ns/exp", experiment="ns/exp")
        extra = {"x-request-id": "r1", "k-eventing-x": "e", "retry-after": "5", "x-other": "o"}
        post(broker.broker_url("test", "default"), ce, mode="structured", **extra)
    [request] = subscriber.requests
    assert request.headers["prefer"] == "reply"
    assert request.headers["kn-namespace"] == "test"
    assert request.headers["x-request-id"] == "r1"  # a pass-through header
    # not passed through by Knative 1.11 (tests/knative/test_delivery.py)
    assert not {"k-eventing-x", "retry-after", "x-other"} & set(request.headers)
    assert request.headers["ce-id"] == ce["id"]
    assert request.headers["ce-experiment"] == "ns/exp"
    assert "ce-knativebrokerttl" not in request.headers  # the TTL is removed before delivery
    assert "ce-knativearrivaltime" in request.headers


def test_format_json_delivers_structured(subscriber: Subscriber) -> None:
    manifest = BROKER + trigger("t", "sub", delivery="delivery: {format: json}\n")
    with running_broker(manifest, {"sub": subscriber}) as broker:
        post(broker.broker_url("test", "default"), event(data={"a": 1}))
    [request] = subscriber.requests
    assert request.headers["content-type"].startswith("application/cloudevents+json")
    assert request.event().data == {"a": 1}


def test_only_matching_triggers_receive(subscriber: Subscriber) -> None:
    other = Subscriber()
    manifest = (
        BROKER
        + trigger("a", "sub", filters="filter: {attributes: {type: wanted}}\n")
        + trigger("b", "other", filters="filters: [{prefix: {type: tools.}}]\n")
    )
    with running_broker(manifest, {"sub": subscriber, "other": other}) as broker:
        url = broker.broker_url("test", "default")
        for type_ in ("wanted", "unwanted", "tools.x"):
            assert post(url, event(type_)).status_code == 202
    assert [r.headers["ce-type"] for r in subscriber.requests] == ["wanted"]
    assert [r.headers["ce-type"] for r in other.requests] == ["tools.x"]
    other.stop()


def test_uri_subscribers_are_used_directly(subscriber: Subscriber) -> None:
    manifest = BROKER + trigger("t", "unused").replace(
        "ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: unused}",
        f"uri: {subscriber.url}/hook",
    )
    with running_broker(manifest, {}) as broker:
        post(broker.broker_url("test", "default"), event())
    assert subscriber.requests[0].path == "/hook"


# --- replies and TTL ----------------------------------------------------------------------------


def test_reply_reenters_the_broker_and_reaches_its_trigger(subscriber: Subscriber) -> None:
    first = replying("second", experiment="ns/exp")
    manifest = (
        BROKER
        + trigger("one", "first", filters="filter: {attributes: {type: first}}\n")
        + trigger("two", "sub", filters="filter: {attributes: {type: second}}\n")
    )
    with running_broker(manifest, {"first": first, "sub": subscriber}) as broker:
        assert post(broker.broker_url("test", "default"), event("first")).status_code == 202
        assert broker.stats["replies"] == 1
    [request] = subscriber.requests
    assert request.headers["ce-type"] == "second"
    assert request.headers["ce-experiment"] == "ns/exp"
    assert "ce-knativebrokerttl" not in request.headers
    assert "ce-knativearrivaltime" in request.headers  # stamped again on the way in
    first.stop()


def test_no_header_of_the_subscribers_response_travels_with_its_reply(
    subscriber: Subscriber,
) -> None:
    """Knative 1.11's filter proxies only Retry-After, which its channel then drops."""
    headers, body = to_binary(event("second"))
    first = Subscriber(
        lambda _: (200, {**dict(headers), "knative-x": "k", "x-request-id": "r"}, body)
    )
    manifest = (
        BROKER
        + trigger("one", "first", filters="filter: {attributes: {type: first}}\n")
        + trigger("two", "sub", filters="filter: {attributes: {type: second}}\n")
    )
    with running_broker(manifest, {"first": first, "sub": subscriber}) as broker:
        assert post(broker.broker_url("test", "default"), event("first")).status_code == 202
    [request] = subscriber.requests
    assert not {"knative-x", "x-request-id"} & set(request.headers)
    first.stop()


def test_ttl_stops_a_reply_loop_after_255_hops(dls: Subscriber) -> None:
    loop = replying("loop")
    manifest = BROKER + trigger(
        "loop", "loop", delivery=DEAD_LETTER.format(retry=3, policy="exponential")
    )
    with running_broker(manifest, {"loop": loop, "dls": dls}) as broker:
        url = broker.broker_url("test", "default")
        assert post(url, event("loop")).status_code == 202
        assert broker.stats["ttl_dropped"] == 1
    assert loop.count == 255  # TTL 255 at the first delivery, one less per reply hop
    [letter] = dls.requests
    assert letter.headers["ce-knativeerrorcode"] == "400"  # the ingress refused the last reply
    assert letter.headers["ce-knativeerrordest"] == url  # failed at the reply URL
    assert letter.headers["ce-id"] == loop.requests[-1].headers["ce-id"]  # the original event
    loop.stop()


def test_a_smaller_ttl_from_the_producer_shortens_the_loop() -> None:
    loop = replying("loop")
    manifest = BROKER + trigger("loop", "loop", delivery="delivery: {retry: 0}\n")
    with running_broker(manifest, {"loop": loop}) as broker:
        response = post(broker.broker_url("test", "default"), event("loop", knativebrokerttl="5"))
    assert loop.count == 4
    assert response.status_code == 500  # no dead-letter sink: the failure reaches the producer
    loop.stop()


# --- retries, backoff and dead letters ----------------------------------------------------------


@pytest.mark.parametrize("code", [500, 502, 503, 504, 404, 408, 409, 429])
def test_retryable_codes_are_retried_then_dead_lettered(code: int, dls: Subscriber) -> None:
    failing = Subscriber(status(code, b"nope"))
    manifest = BROKER + trigger(
        "t", "sub", delivery=DEAD_LETTER.format(retry=3, policy="exponential")
    )
    clock = RecordingClock()
    with running_broker(manifest, {"sub": failing, "dls": dls}, clock=clock) as broker:
        assert post(broker.broker_url("test", "default"), event()).status_code == 202
    assert failing.count == 4  # retry + 1 attempts
    assert clock.sleeps == [1.0, 2.0, 4.0]
    [letter] = dls.requests
    assert letter.headers["ce-knativeerrorcode"] == str(code)
    assert letter.headers["ce-knativeerrordest"] == failing.url
    assert base64.b64decode(letter.headers["ce-knativeerrordata"]) == b"nope"
    assert letter.headers["ce-id"] == failing.requests[0].headers["ce-id"]
    failing.stop()


@pytest.mark.parametrize("code", [400, 401, 403, 405, 410, 413, 422, 300])
def test_other_failures_are_not_retried(code: int, dls: Subscriber) -> None:
    failing = Subscriber(status(code))
    manifest = BROKER + trigger(
        "t", "sub", delivery=DEAD_LETTER.format(retry=3, policy="exponential")
    )
    clock = RecordingClock()
    with running_broker(manifest, {"sub": failing, "dls": dls}, clock=clock) as broker:
        assert post(broker.broker_url("test", "default"), event()).status_code == 202
    assert failing.count == 1
    assert clock.sleeps == []
    assert dls.requests[0].headers["ce-knativeerrorcode"] == str(code)
    failing.stop()


def test_linear_backoff_waits(dls: Subscriber) -> None:
    failing = Subscriber(status(503))
    manifest = BROKER + trigger("t", "sub", delivery=DEAD_LETTER.format(retry=4, policy="linear"))
    clock = RecordingClock()
    with running_broker(manifest, {"sub": failing, "dls": dls}, clock=clock) as broker:
        post(broker.broker_url("test", "default"), event())
    assert failing.count == 5
    assert clock.sleeps == [0.0, 1.0, 2.0, 3.0]
    failing.stop()


def test_broker_default_delivery_is_knatives(subscriber: Subscriber) -> None:
    subscriber.respond = status(500)
    clock = RecordingClock()
    with running_broker(BROKER + trigger("t", "sub"), {"sub": subscriber}, clock=clock) as broker:
        response = post(broker.broker_url("test", "default"), event())
    assert response.status_code == 500  # failed, and no dead-letter sink anywhere
    assert subscriber.count == 11  # retry 10
    assert clock.sleeps == [0.2 * 2**k for k in range(10)]  # exponential from PT0.2S


def test_trigger_delivery_replaces_the_brokers_but_inherits_its_sink(
    subscriber: Subscriber, dls: Subscriber
) -> None:
    subscriber.respond = status(500)
    broker_manifest = BROKER + (
        "spec:\n  delivery:\n    retry: 5\n    backoffPolicy: linear\n    backoffDelay: PT9S\n"
        "    deadLetterSink: {ref: {kind: Service, name: dls}}\n"
    )
    manifest = broker_manifest + trigger("t", "sub", delivery="delivery: {retry: 1}\n")
    clock = RecordingClock()
    with running_broker(manifest, {"sub": subscriber, "dls": dls}, clock=clock) as broker:
        assert post(broker.broker_url("test", "default"), event()).status_code == 202
    assert subscriber.count == 2
    assert clock.sleeps == [0.0]  # no policy on the trigger: immediate retry
    assert dls.count == 1


def test_transport_errors_are_retried_and_dead_lettered(dls: Subscriber) -> None:
    closed = Subscriber()
    closed.stop()  # nothing listens there any more
    manifest = BROKER + trigger("t", "sub", delivery=DEAD_LETTER.format(retry=2, policy="linear"))
    clock = RecordingClock()
    with running_broker(manifest, {"sub": closed, "dls": dls}, clock=clock) as broker:
        assert post(broker.broker_url("test", "default"), event()).status_code == 202
    assert clock.sleeps == [0.0, 1.0]
    [letter] = dls.requests
    assert letter.headers["ce-knativeerrorcode"] == "500"
    assert base64.b64decode(letter.headers["ce-knativeerrordata"]).startswith(b"dispatch error")


def test_attempt_timeout_is_a_transport_error(dls: Subscriber) -> None:
    def slow(_: Request) -> Response:
        time.sleep(1.0)
        return 202, {}, b""

    sleepy = Subscriber(slow)
    delivery = DEAD_LETTER.format(retry=1, policy="linear") + "  timeout: PT0.1S\n"
    with running_broker(
        BROKER + trigger("t", "sub", delivery=delivery), {"sub": sleepy, "dls": dls}
    ) as broker:
        assert post(broker.broker_url("test", "default"), event()).status_code == 202
    assert dls.requests[0].headers["ce-knativeerrorcode"] == "500"
    sleepy.stop()


@pytest.mark.parametrize(
    "answer",
    [
        (200, {"content-type": "text/html"}, b"OK"),  # functions-framework's cloud_event answer
        (200, {"content-type": "application/json"}, b'{"result": 1}'),
        (200, {"content-type": "application/cloudevents+json"}, b"{not json"),
    ],
)
def test_2xx_that_is_not_a_cloudevent_is_a_retried_502(answer: Response, dls: Subscriber) -> None:
    bad = Subscriber(lambda _: answer)
    manifest = BROKER + trigger("t", "sub", delivery=DEAD_LETTER.format(retry=2, policy="linear"))
    with running_broker(manifest, {"sub": bad, "dls": dls}) as broker:
        assert post(broker.broker_url("test", "default"), event()).status_code == 202
    assert bad.count == 3
    assert dls.requests[0].headers["ce-knativeerrorcode"] == "502"
    bad.stop()


def test_an_invalid_binary_reply_is_refused_at_the_ingress_and_not_retried(
    dls: Subscriber,
) -> None:
    """Knative 1.11's filter passes a binary reply without id/source on; its ingress refuses it
    (400): one call, the original dead-lettered at the broker (tests/knative/test_delivery.py)."""
    bad = Subscriber(lambda _: (200, {"ce-specversion": "1.0", "ce-type": "t"}, b""))
    manifest = BROKER + trigger("t", "sub", delivery=DEAD_LETTER.format(retry=2, policy="linear"))
    clock = RecordingClock()
    with running_broker(manifest, {"sub": bad, "dls": dls}, clock=clock) as broker:
        url = broker.broker_url("test", "default")
        assert post(url, event()).status_code == 202
    assert bad.count == 1 and clock.sleeps == []
    [letter] = dls.requests
    assert letter.headers["ce-knativeerrorcode"] == "400"
    assert letter.headers["ce-knativeerrordest"] == url
    assert letter.headers["ce-id"] == bad.requests[0].headers["ce-id"]
    bad.stop()


def test_a_dead_letter_carries_the_ttl_the_broker_gave_the_event(dls: Subscriber) -> None:
    """As Knative's channel dispatcher sends it: the event as the broker holds it."""
    failing = Subscriber(status(422))
    manifest = BROKER + trigger("t", "sub", delivery=DEAD_LETTER.format(retry=0, policy="linear"))
    with running_broker(manifest, {"sub": failing, "dls": dls}) as broker:
        post(broker.broker_url("test", "default"), event("t", knativebrokerttl="7"))
    assert "ce-knativebrokerttl" not in failing.requests[0].headers
    assert dls.requests[0].headers["ce-knativebrokerttl"] == "6"
    failing.stop()


RETRY_AFTER = """delivery:
  retry: 3
  backoffPolicy: exponential
  backoffDelay: PT1S
  retryAfterMax: PT2.5S
  deadLetterSink:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dls}
"""


@pytest.mark.parametrize(
    ("code", "retry_after", "delivery", "waits"),
    [
        (429, "3", RETRY_AFTER, [2.5, 2.5, 4.0]),  # capped at retryAfterMax, never below backoff
        (503, "2", RETRY_AFTER, [2.0, 2.0, 4.0]),
        (500, "3", RETRY_AFTER, [1.0, 2.0, 4.0]),  # only 429 and 503
        (429, "soon", RETRY_AFTER, [1.0, 2.0, 4.0]),  # unreadable: ignored
        (429, "3", DEAD_LETTER.format(retry=3, policy="exponential"), [1.0, 2.0, 4.0]),
    ],
)
def test_retry_after_is_honoured_up_to_retry_after_max(
    code: int, retry_after: str, delivery: str, waits: list[float], dls: Subscriber
) -> None:
    failing = Subscriber(lambda _: (code, {"retry-after": retry_after}, b""))
    clock = RecordingClock()
    manifest = BROKER + trigger("t", "sub", delivery=delivery)
    with running_broker(manifest, {"sub": failing, "dls": dls}, clock=clock) as broker:
        post(broker.broker_url("test", "default"), event())
    assert clock.sleeps == waits
    failing.stop()


def test_error_data_is_base64_cut_to_1024_characters(dls: Subscriber) -> None:
    body = bytes(range(256)) * 8
    failing = Subscriber(status(500, body))
    manifest = BROKER + trigger("t", "sub", delivery=DEAD_LETTER.format(retry=0, policy="linear"))
    with running_broker(manifest, {"sub": failing, "dls": dls}) as broker:
        post(broker.broker_url("test", "default"), event())
    data = dls.requests[0].headers["ce-knativeerrordata"]
    assert len(data) == 1024
    assert data == base64.b64encode(body[:1024]).decode()[:1024]
    failing.stop()


def test_failed_dead_letter_sink_fails_the_delivery(subscriber: Subscriber) -> None:
    subscriber.respond = status(400)
    broken_sink = Subscriber(status(503))
    manifest = BROKER + trigger("t", "sub", delivery=DEAD_LETTER.format(retry=2, policy="linear"))
    with running_broker(manifest, {"sub": subscriber, "dls": broken_sink}) as broker:
        assert post(broker.broker_url("test", "default"), event()).status_code == 500
        assert broker.stats["failed"] == 1
    assert broken_sink.count == 3  # the sink gets the same retries
    broken_sink.stop()


def test_failed_reply_forward_is_retried_without_calling_the_subscriber_again(
    dls: Subscriber,
) -> None:
    first = replying("second")
    refusing = Subscriber(status(503))
    manifest = (
        BROKER
        + trigger(
            "one",
            "first",
            filters="filter: {attributes: {type: first}}\n",
            delivery=DEAD_LETTER.format(retry=2, policy="linear"),
        )
        + trigger(
            "two",
            "refusing",
            filters="filter: {attributes: {type: second}}\n",
            delivery="delivery: {retry: 0}\n",
        )
    )
    subscribers = {"first": first, "refusing": refusing, "dls": dls}
    with running_broker(manifest, subscribers) as broker:
        url = broker.broker_url("test", "default")
        assert post(url, event("first")).status_code == 202
    assert first.count == 1  # the reply was retried, not the subscriber
    assert refusing.count == 3  # the reply entered the broker three times
    [letter] = dls.requests
    assert letter.headers["ce-type"] == "first"  # the original event
    assert letter.headers["ce-knativeerrordest"] == url
    assert letter.headers["ce-knativeerrorcode"] == "500"
    first.stop()
    refusing.stop()


# --- synchronous and asynchronous fan-out -------------------------------------------------------


def test_sync_ingress_answers_only_after_every_delivery(subscriber: Subscriber) -> None:
    def slow(_: Request) -> Response:
        time.sleep(0.2)
        return 202, {}, b""

    others = [Subscriber(slow) for _ in range(3)]
    manifest = BROKER + "".join(trigger(f"t{i}", f"s{i}") for i in range(3))
    with running_broker(manifest, {f"s{i}": s for i, s in enumerate(others)}) as broker:
        response = post(broker.broker_url("test", "default"), event())
        returned = time.monotonic()
    assert response.status_code == 202
    for server in others:
        [request] = server.requests
        assert request.answered_at is not None and request.answered_at <= returned
        server.stop()


def test_async_ingress_answers_before_delivery_and_delivers_eventually() -> None:
    release = threading.Event()

    def held(_: Request) -> Response:
        release.wait(10)
        return 202, {}, b""

    blocked = Subscriber(held)
    chained = Subscriber()
    first = replying("second")
    manifest = (
        BROKER
        + trigger("held", "blocked", filters="filter: {attributes: {type: held}}\n")
        + trigger("one", "first", filters="filter: {attributes: {type: first}}\n")
        + trigger("two", "chained", filters="filter: {attributes: {type: second}}\n")
    )
    subscribers = {"blocked": blocked, "first": first, "chained": chained}
    with running_broker(manifest, subscribers, async_mode=True, workers=4) as broker:
        url = broker.broker_url("test", "default")
        assert post(url, event("held")).status_code == 202
        assert blocked.wait_for(1)[0].answered_at is None  # still being delivered
        assert post(url, event("first")).status_code == 202
        release.set()
        assert broker.wait_idle(timeout=10)
    assert blocked.count == 1
    assert [r.headers["ce-type"] for r in chained.requests] == ["second"]
    for server in (blocked, chained, first):
        server.stop()


def test_async_failures_without_a_sink_are_counted() -> None:
    failing = Subscriber(status(400))
    with running_broker(BROKER + trigger("t", "sub"), {"sub": failing}, async_mode=True) as broker:
        assert post(broker.broker_url("test", "default"), event()).status_code == 202
        assert broker.wait_idle(timeout=10)
        assert broker.stats["failed"] == 1
    failing.stop()


def test_sync_wait_idle_waits_for_a_chain_under_way() -> None:
    """What a graceful stop relies on: in synchronous mode too, `wait_idle` is False while an
    ingest is still fanning out (here, to a subscriber that holds it) and True once it is done."""
    release = threading.Event()

    def held(_: Request) -> Response:
        release.wait(10)
        return 202, {}, b""

    blocked = Subscriber(held)
    with running_broker(BROKER + trigger("t", "held"), {"held": blocked}) as broker:
        posting = threading.Thread(
            target=post, args=(broker.broker_url("test", "default"), event())
        )
        posting.start()
        blocked.wait_for(1)
        assert not broker.wait_idle(timeout=0.2)
        release.set()
        assert broker.wait_idle(timeout=10)
        posting.join(10)
    assert blocked.count == 1
    blocked.stop()
