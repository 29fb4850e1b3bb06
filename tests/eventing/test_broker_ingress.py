"""The ingress as a producer meets it: the cloudevents SDK and raw httpx against a real server."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from cloudevents.conversion import to_binary, to_structured
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventing.broker import RunningBroker
from tests.eventing.test_broker_servers import (
    BROKER,
    Subscriber,
    event,
    post,
    running_broker,
    trigger,
)

CE = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}


@pytest.fixture(scope="module")
def sink() -> Iterator[Subscriber]:
    subscriber = Subscriber()
    yield subscriber
    subscriber.stop()


@pytest.fixture(scope="module")
def broker(sink: Subscriber) -> Iterator[RunningBroker]:
    with running_broker(BROKER + trigger("all", "sink"), {"sink": sink}) as running:
        yield running


@pytest.fixture
def url(broker: RunningBroker) -> str:
    return broker.broker_url("test", "default")


def test_binary_event_is_accepted_and_delivered(url: str, sink: Subscriber) -> None:
    before = sink.count
    response = post(url, event(subject="ns/exp", experiment="ns/exp", iteration="2"))
    assert response.status_code == 202
    assert response.content == b""
    delivered = sink.requests[before].event()
    assert delivered["subject"] == "ns/exp" and delivered["iteration"] == "2"
    assert delivered.data == {"n": 1}


def test_structured_event_is_accepted_and_delivered_in_binary_mode(
    url: str, sink: Subscriber
) -> None:
    before = sink.count
    assert post(url, event(data={"structured": True}), mode="structured").status_code == 202
    request = sink.requests[before]
    assert request.headers["ce-type"] == "tools.iter8.test"
    assert request.headers["content-type"] == "application/json"
    assert request.event().data == {"structured": True}


def test_arrival_time_is_added(url: str, sink: Subscriber) -> None:
    before = sink.count
    post(url, event())
    assert sink.requests[before].headers["ce-knativearrivaltime"] == "2026-01-01T00:00:00Z"


def test_every_answer_allows_post_and_options(url: str) -> None:
    for response in (httpx.post(url, content=b""), httpx.get(url), httpx.options(url)):
        assert response.headers["allow"] == "POST, OPTIONS"


def test_options_answers_the_webhook_handshake(url: str) -> None:
    response = httpx.options(url)
    assert response.status_code == 200
    assert response.headers["webhook-allowed-origin"] == "*"
    assert response.headers["webhook-allowed-rate"] == "*"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "HEAD", "BREW"])
def test_other_methods_are_405(url: str, method: str) -> None:
    assert httpx.request(method, url).status_code == 405


def test_root_path_is_404(broker: RunningBroker) -> None:
    assert httpx.post(broker.url + "/", headers=CE).status_code == 404


@pytest.mark.parametrize("path", ["/test", "/test/default/extra", "//", "/a//b"])
def test_paths_that_are_not_namespace_and_broker_are_400(broker: RunningBroker, path: str) -> None:
    assert httpx.post(broker.url + path, headers=CE).status_code == 400


def test_one_trailing_slash_is_allowed(url: str) -> None:
    assert httpx.post(url + "/", headers=CE).status_code == 202


def test_unknown_broker_is_404(broker: RunningBroker) -> None:
    assert httpx.post(broker.url + "/test/nope", headers=CE).status_code == 404
    assert httpx.post(broker.url + "/other/default", headers=CE).status_code == 404


def test_query_string_belongs_to_the_broker_name_as_in_go(url: str) -> None:
    assert httpx.post(url + "?x=1", headers=CE).status_code == 404


def test_not_a_cloudevent_is_400_even_for_an_unknown_broker(broker: RunningBroker) -> None:
    assert httpx.post(broker.url + "/test/nope", json={"a": 1}).status_code == 400


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"content-type": "application/json"}, b'{"a": 1}'),
        ({"content-type": "application/cloudevents-batch+json"}, b"[]"),
        ({"content-type": "application/cloudevents+json"}, b"{"),
        ({**CE, "ce-id": ""}, b""),
        ({**CE, "ce-specversion": "0.1"}, b""),
        ({**CE, "ce-time": "not-a-time"}, b""),
        ({**CE, "ce-my_ext": "x"}, b""),
        ({**CE, "ce-my-ext": "x"}, b""),
    ],
)
def test_malformed_events_are_400(url: str, headers: dict[str, str], body: bytes) -> None:
    assert httpx.post(url, headers=headers, content=body).status_code == 400


def test_batch_of_valid_events_is_refused(url: str) -> None:
    _, one = to_structured(event())
    body = b"[" + one + b"]"
    headers = {"content-type": "application/cloudevents-batch+json"}
    assert httpx.post(url, headers=headers, content=body).status_code == 400


def test_spent_ttl_is_400(url: str, sink: Subscriber) -> None:
    before = sink.count
    assert post(url, event(knativebrokerttl="1")).status_code == 400
    assert post(url, event(knativebrokerttl="2")).status_code == 202
    assert sink.count == before + 1


def test_chunked_body_is_read(url: str) -> None:
    headers, body = to_binary(event())
    response = httpx.post(url, headers=headers, content=iter([body[:3], body[3:]]))
    assert response.status_code == 202


# --- fuzzing: whatever arrives, a 4xx or a success, never a 5xx or a dead server -----------------

tokens = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"),
    min_size=1,
    max_size=12,
)
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30).map(
    str.strip  # h11, like any client, sends no surrounding whitespace
)
ce_header = st.tuples(st.sampled_from(["ce-", "CE-", "Ce-"]), tokens).map("".join)
headers_strategy = st.dictionaries(
    st.one_of(ce_header, st.sampled_from(["content-type", "knative-x", "x-request-id"]), tokens),
    header_values,
    max_size=8,
)
bodies = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=12,
    ).map(lambda value: httpx.Request("POST", "http://x", json=value).content),
)
path_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=6)
paths = st.lists(path_text, max_size=4).map(lambda parts: "/" + "/".join(parts))
methods = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "OPTIONS", "DELETE", "FUZZ"])


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=methods,
    path=st.one_of(st.just("/test/default"), paths),
    headers=headers_strategy,
    with_ce=st.booleans(),
    structured=st.booleans(),
    body=bodies,
)
def test_fuzzed_requests_never_get_a_5xx(
    broker: RunningBroker,
    method: str,
    path: str,
    headers: dict[str, str],
    with_ce: bool,
    structured: bool,
    body: bytes,
) -> None:
    if with_ce:
        headers = {**CE, **headers}
    if structured:
        headers["content-type"] = "application/cloudevents+json"
    response = httpx.request(method, broker.url + path, headers=headers, content=body)
    assert response.status_code in (200, 202, 400, 404, 405)
    if method not in ("POST", "OPTIONS"):
        assert response.status_code == 405


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(min_size=1, max_size=300))
def test_garbage_on_the_socket_never_gets_a_5xx(broker: RunningBroker, raw: bytes) -> None:
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as conn:
        conn.sendall(b"POST /test/default HTTP/1.1\r\n" + raw + b"\r\n\r\n")
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := conn.recv(4096):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert 200 <= status < 500, answer[:200]


def test_still_serving_after_the_fuzzing(url: str) -> None:
    assert post(url, event()).status_code == 202


# --- the HTTP server underneath -------------------------------------------------------------------


def test_connections_are_kept_alive(url: str) -> None:
    with httpx.Client() as client:
        headers, body = to_binary(event())
        first = client.post(url, headers=headers, content=body)
        second = client.post(url, headers=headers, content=body)
    assert (first.status_code, second.status_code) == (202, 202)
    assert "close" not in first.headers.get("connection", "")


def test_an_unread_body_closes_the_connection(broker: RunningBroker) -> None:
    response = httpx.post(broker.url + "/", content=b"x" * 100)
    assert response.status_code == 404
    assert response.headers["connection"] == "close"


def test_unknown_transfer_encoding_is_400(broker: RunningBroker) -> None:
    request = (
        b"POST /test/default HTTP/1.1\r\nHost: x\r\nce-specversion: 1.0\r\nce-id: 1\r\n"
        b"ce-source: /s\r\nce-type: t\r\nTransfer-Encoding: gzip\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as conn:
        conn.sendall(request)
        assert conn.recv(4096).startswith(b"HTTP/1.1 400 ")


def _exchange(broker: RunningBroker, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as conn:
        conn.sendall(request)
        return conn.recv(4096)


EVENT_HEAD = b"POST /test/default HTTP/1.1\r\nHost: x\r\nce-id: 1\r\nce-source: /s\r\n"


def test_header_names_are_case_insensitive_and_folded_lines_are_joined(
    broker: RunningBroker, sink: Subscriber
) -> None:
    before = len(sink.requests)
    request = (
        EVENT_HEAD + b"CE-SpecVersion: 1.0\r\nce-type: t\r\nce-folded: one\r\n\ttwo\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    assert _exchange(broker, request).startswith(b"HTTP/1.1 202 ")
    delivered = sink.wait_for(before + 1)[before]
    assert delivered.headers["ce-folded"] == "one two"


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (EVENT_HEAD + b"no colon here\r\n", b"400"),
        (EVENT_HEAD + b"ce-type : t\r\n", b"400"),
        (EVENT_HEAD + b"".join(b"x-%d: 1\r\n" % i for i in range(101)), b"431"),
        (EVENT_HEAD + b"x-long: " + b"a" * 70_000 + b"\r\n", b"431"),
        (b"POST /test/default HTTP/2.0\r\n", b"505"),
        (b"POST /test/default HTTP/one\r\n", b"400"),
        (b"POST /test/default\r\n", b"400"),
    ],
)
def test_a_malformed_head_gets_a_4xx_or_505(
    broker: RunningBroker, head: bytes, status: bytes
) -> None:
    assert _exchange(broker, head + b"\r\n").split(b" ", 2)[1] == status


def test_expect_100_continue_is_answered_before_the_body(broker: RunningBroker) -> None:
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as conn:
        conn.sendall(
            EVENT_HEAD + b"ce-specversion: 1.0\r\nce-type: t\r\nExpect: 100-continue\r\n"
            b"Content-Length: 2\r\n\r\n"
        )
        assert conn.recv(4096).startswith(b"HTTP/1.1 100 ")
        conn.sendall(b"{}")
        assert conn.recv(4096).startswith(b"HTTP/1.1 202 ")


def test_stop_ends_kept_alive_connections(sink: Subscriber) -> None:
    with running_broker(BROKER + trigger("all", "sink"), {"sink": sink}) as running:
        url = running.broker_url("test", "default")
        client = httpx.Client()
        headers, body = to_binary(event())
        assert client.post(url, headers=headers, content=body).status_code == 202
    with pytest.raises(httpx.TransportError):
        client.post(url, headers=headers, content=body)
    client.close()


# --- header values that are not ASCII -------------------------------------------------------------

UTF8_HEAD = (
    b"POST /test/default HTTP/1.1\r\nHost: x\r\nce-specversion: 1.0\r\nce-id: 1\r\nce-type: t\r\n"
)


def test_a_utf8_header_value_is_carried_byte_for_byte(
    broker: RunningBroker, sink: Subscriber
) -> None:
    """It used to fail every delivery (500 after the retries) and be lost, not even dead-lettered.
    Knative carries the bytes too (Go's headers are bytes)."""
    before = len(sink.requests)
    request = (
        UTF8_HEAD
        + "ce-source: /€\r\nce-subject: exp ü\r\nx-request-id: é\r\n".encode()
        + b"Content-Length: 0\r\n\r\n"
    )
    assert _exchange(broker, request).startswith(b"HTTP/1.1 202 ")
    delivered = sink.wait_for(before + 1)[before].headers  # read as latin-1 by http.server
    assert delivered["ce-source"].encode("latin-1") == "/€".encode()
    assert delivered["ce-subject"].encode("latin-1") == "exp ü".encode()
    assert delivered["x-request-id"].encode("latin-1") == "é".encode()


def test_a_pass_through_header_that_is_not_utf8_is_carried_as_it_came(
    broker: RunningBroker, sink: Subscriber
) -> None:
    before = len(sink.requests)
    request = UTF8_HEAD + b"ce-source: /s\r\nx-request-id: \xe9\xff\r\nContent-Length: 0\r\n\r\n"
    assert _exchange(broker, request).startswith(b"HTTP/1.1 202 ")
    delivered = sink.wait_for(before + 1)[before].headers
    assert delivered["x-request-id"].encode("latin-1") == b"\xe9\xff"


@pytest.mark.parametrize(
    "line",
    [
        b"ce-source: /\xe9\r\n",  # an attribute must be a String: UTF-8
        "ce-source: /s\r\nce-subject: a\x85b\r\n".encode(),  # a C1 control character
        b"ce-source: /s\r\nx-request-id: a\x00b\r\n",  # Go: invalid header value
        b"ce-source: /s\r\nx-request-id: a\x01b\r\n",
        b"ce-source: /s\r\nx\x00y: 1\r\n",  # Go: invalid header name
        b"ce-source: /s\r\nx y: 1\r\n",
    ],
)
def test_header_values_that_cannot_be_carried_are_400_at_the_ingress(
    broker: RunningBroker, sink: Subscriber, line: bytes
) -> None:
    before = len(sink.requests)
    request = UTF8_HEAD + line + b"Content-Length: 0\r\n\r\n"
    assert _exchange(broker, request).startswith(b"HTTP/1.1 400 ")
    assert len(sink.requests) == before


@pytest.mark.parametrize("subject", ["a\nb", "a\rb", "a\x00b", "a\tb", "a\x7fb", "a\ud800b"])
def test_a_structured_attribute_that_is_no_cloudevents_string_is_400(
    url: str, sink: Subscriber, subject: str
) -> None:
    """A JSON attribute can hold what no header can; it used to be retried, then lost."""
    before = sink.count
    envelope = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "subject": subject}
    body = json.dumps(envelope).encode()
    headers = {"content-type": "application/cloudevents+json"}
    assert httpx.post(url, headers=headers, content=body).status_code == 400
    assert sink.count == before
