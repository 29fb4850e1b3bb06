"""The broker's pure rules, case by case against Knative's: attributes, wire, TTL, backoff."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from eventing.broker.backoff import RetryPolicy, is_retryable, retry_after_seconds
from eventing.broker.deadletter import dead_letter, error_data
from eventing.broker.durations import parse_duration
from eventing.broker.event import Event, InvalidEvent, canonical_time, format_timestamp
from eventing.broker.outcome import from_sink, from_subscriber, transport_failure
from eventing.broker.ttl import MAX_TTL, admit, carry, next_ttl, strip
from eventing.broker.wire import decode, to_binary, to_structured

BINARY = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}


def structured(**envelope: object) -> bytes:
    base = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}
    return json.dumps({**base, **envelope}).encode()


STRUCTURED = {"content-type": "application/cloudevents+json"}


# --- decoding and validation (sdk-go's ToEvent + Validate) ---------------------------------------


def test_binary_event_keeps_every_attribute_as_text() -> None:
    headers = {**BINARY, "ce-experiment": "ns/exp", "ce-iteration": "3", "content-type": "a/b"}
    event = decode(headers, b"xyz")
    assert event.attributes == {
        "specversion": "1.0",
        "id": "1",
        "source": "/s",
        "type": "t",
        "experiment": "ns/exp",
        "iteration": "3",
        "datacontenttype": "a/b",
    }
    assert event.data == b"xyz"


def test_structured_extensions_become_their_binary_text() -> None:
    body = structured(iteration=3, flag=True, big=5.0, datacontenttype="application/json", data={})
    event = decode(STRUCTURED, body)
    assert (event.get("iteration"), event.get("flag"), event.get("big")) == ("3", "true", "5")
    assert event.data == b"{}"


def test_structured_data_base64_and_text() -> None:
    event = decode(STRUCTURED, structured(data_base64=base64.b64encode(b"\x00\x01").decode()))
    assert event.data == b"\x00\x01"
    event = decode(STRUCTURED, structured(datacontenttype="text/plain", data="hi"))
    assert event.data == b"hi"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, b"{}"),  # neither mode
        ({"content-type": "application/json"}, b'{"id": "1"}'),
        ({"content-type": "application/cloudevents-batch+json"}, b"[]"),  # batch refused
        ({**BINARY, "ce-specversion": "2.0"}, b""),
        ({k: v for k, v in BINARY.items() if k != "ce-id"}, b""),
        ({**BINARY, "ce-id": "  "}, b""),
        ({**BINARY, "ce-source": ""}, b""),
        ({**BINARY, "ce-source": "%zz"}, b""),
        ({**BINARY, "ce-source": ":nothing"}, b""),
        ({**BINARY, "ce-type": ""}, b""),
        ({**BINARY, "ce-subject": " "}, b""),
        ({**BINARY, "ce-time": "yesterday"}, b""),
        ({**BINARY, "ce-time": "2026-02-30T00:00:00Z"}, b""),
        ({**BINARY, "ce-dataschema": "relative/path"}, b""),
        ({**BINARY, "ce-bad_name": "x"}, b""),
        ({**BINARY, "ce-bad-name": "x"}, b""),
        ({**BINARY, "ce-": "x"}, b""),
        ({**BINARY, "content-type": "not a media type"}, b""),
        (STRUCTURED, b"not json"),
        (STRUCTURED, b"[1, 2]"),
        (STRUCTURED, b"[" * 5000),
        (STRUCTURED, structured(id=7)),
        (STRUCTURED, structured(ext=1.5)),
        (STRUCTURED, structured(ext=2**31)),
        (STRUCTURED, structured(ext={"nested": 1})),
        (STRUCTURED, structured(**{"bad-name": "x"})),
        (STRUCTURED, structured(data={}, data_base64="AA==")),
        (STRUCTURED, structured(data_base64="***")),
        (STRUCTURED, b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "x": NaN}'),
    ],
)
def test_invalid_events_are_refused(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(InvalidEvent):
        decode(headers, body)


def test_extension_names_are_lowercased_as_sdk_go_does() -> None:
    assert decode({**BINARY, "ce-MyExt": "v"}, b"").get("myext") == "v"


def test_time_is_made_utc_with_nanoseconds_trimmed() -> None:
    assert canonical_time("2026-05-01T12:00:00+02:00") == "2026-05-01T10:00:00Z"
    assert canonical_time("2026-05-01T12:00:00.120000000Z") == "2026-05-01T12:00:00.12Z"
    assert canonical_time("2026-05-01T12:00:00.123456789123Z") == "2026-05-01T12:00:00.123456789Z"
    when = datetime(2026, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)
    assert format_timestamp(when) == "2026-05-01T12:00:00.5Z"


def test_binary_and_structured_round_trip() -> None:
    event = Event({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "x": "y"}, b"d")
    headers, body = to_binary(event)
    assert decode(dict(headers), body) == event
    headers, body = to_structured(event)
    assert decode(dict(headers), body) == event


def test_structured_delivery_embeds_json_data() -> None:
    attributes = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}
    event = Event({**attributes, "datacontenttype": "application/json"}, b'{"a":1}')
    assert json.loads(to_structured(event)[1])["data"] == {"a": 1}
    binary = Event(attributes, b"\xff\x00")
    assert "data_base64" in json.loads(to_structured(binary)[1])


# --- TTL (pkg/broker/ttl.go and the ingress defaulter) -------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, MAX_TTL), ("abc", MAX_TTL), ("1.5", MAX_TTL), ("10", 9), ("1", 0), ("0", 0), ("-4", 0)],
)
def test_next_ttl(value: str | None, expected: int) -> None:
    assert next_ttl(value) == expected


def test_admit_stamps_arrival_and_drops_spent_events() -> None:
    event = Event({"specversion": "1.0", "id": "1", "source": "/s", "type": "t"})
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    admitted = admit(event, now)
    assert admitted is not None
    assert admitted.get("knativebrokerttl") == "255"
    assert admitted.get("knativearrivaltime") == "2026-01-02T03:04:05Z"
    assert admit(event.replace(knativebrokerttl="1"), now) is None
    delivered, ttl = strip(admitted)
    assert delivered.get("knativebrokerttl") is None and ttl == "255"
    assert carry(event, ttl).get("knativebrokerttl") == "255"


# --- retries and backoff (pkg/kncloudevents/retries.go, go-retryablehttp) ------------------------


@pytest.mark.parametrize("status", [None, 500, 502, 503, 504, 599, 404, 408, 409, 429])
def test_retried_statuses(status: int | None) -> None:
    assert is_retryable(status)


@pytest.mark.parametrize("status", [100, 200, 202, 300, 302, 400, 401, 403, 405, 410, 413, 422])
def test_statuses_never_retried(status: int) -> None:
    assert not is_retryable(status)


def test_exponential_backoff_doubles_from_the_delay() -> None:
    policy = RetryPolicy(5, "exponential", parse_duration("PT0.2S"))
    assert policy.waits() == [0.2, 0.4, 0.8, 1.6, 3.2]


def test_linear_backoff_starts_at_zero() -> None:
    policy = RetryPolicy(4, "linear", parse_duration("PT1.5S"))
    assert policy.waits() == [0.0, 1.5, 3.0, 4.5]


def test_no_policy_or_no_delay_means_immediate_retries() -> None:
    assert RetryPolicy(3, None, 10**9).waits() == [0.0] * 3
    assert RetryPolicy(3, "exponential", None).waits() == [0.0] * 3


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("+3", 3.0),  # Go's ParseInt takes a sign
        ("-3", -3.0),
        ("Thu, 01 Jan 2026 00:00:30 GMT", 30.0),  # an HTTP date: seconds until it
        ("Wednesday, 31-Dec-25 23:59:50 GMT", -10.0),  # RFC 850, in the past
        ("1.5", None),  # neither an integer nor a date: ignored
        (" 3", None),
        ("99999999999999999999", None),  # past Go's Duration: ignored
        ("", None),
        (None, None),
    ],
)
def test_retry_after_reads_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    assert retry_after_seconds(header, datetime(2026, 1, 1, tzinfo=UTC)) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT0.2S", 0.2), ("PT1M30S", 90), ("PT2H", 7200), ("P1D", 86400), ("P1W", 604800)],
)
def test_iso8601_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == round(seconds * 1e9)


@pytest.mark.parametrize("text", ["", "P", "PT", "0.2S", "PT-1S", "1 second", "T1S", "P1H"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# --- how a subscriber's answer is judged (filter_handler.go writeResponse) -----------------------


def test_empty_2xx_is_success_without_reply() -> None:
    outcome = from_subscriber(202, {}, b"")
    assert outcome.ok and outcome.reply is None


def test_2xx_with_a_cloudevent_is_a_reply() -> None:
    outcome = from_subscriber(200, {**BINARY, "content-type": "application/json"}, b"{}")
    assert outcome.ok and outcome.reply is not None and outcome.reply.type == "t"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"content-type": "text/html"}, b"OK"),
        ({"content-type": "application/cloudevents+json"}, b"[1]"),
    ],
)
def test_2xx_with_anything_else_is_a_502(headers: dict[str, str], body: bytes) -> None:
    outcome = from_subscriber(200, headers, body)
    assert not outcome.ok and outcome.status == 502 and outcome.retryable


def test_an_invalid_binary_reply_is_delivered_for_the_ingress_to_refuse() -> None:
    outcome = from_subscriber(200, {"ce-specversion": "1.0"}, b"")
    assert outcome.ok and outcome.reply is None and outcome.invalid_reply


def test_failures_keep_status_and_body() -> None:
    outcome = from_subscriber(503, {}, b"busy")
    assert (outcome.ok, outcome.error_code, outcome.body, outcome.retryable) == (
        False,
        503,
        b"busy",
        True,
    )
    assert transport_failure(ConnectionError("refused")).error_code == 500
    assert from_sink(200, {}, b"anything").ok


def test_dead_letter_extensions() -> None:
    event = Event({"specversion": "1.0", "id": "1", "source": "/s", "type": "t"})
    letter = dead_letter(event, "http://sub", from_subscriber(500, {}, b"x" * 5000))
    assert letter.get("knativeerrordest") == "http://sub"
    assert letter.get("knativeerrorcode") == "500"
    data = letter.get("knativeerrordata") or ""
    assert len(data) == 1024  # base64 of the first 1024 bytes, cut to 1024 characters
    assert data == base64.b64encode(b"x" * 1024).decode()[:1024]
    assert error_data(b"boom") == base64.b64encode(b"boom").decode()
