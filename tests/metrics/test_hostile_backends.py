"""Backends that answer badly, slowly, hugely or not at all, and URLs that must never be
fetched: every fetch ends, within its deadline, as a number or as "unknown" with a message.
Real servers on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import math
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iter8.analytics.observations import Observation
from iter8.metrics import transport
from iter8.metrics.provider import FetchRequest
from iter8.metrics.registry import fetch, fetch_all
from iter8.metrics.secrets import from_mapping
from tests.metrics.backend import Answer, Backend, Seen
from tests.metrics.builders import metric, version


class _Dribbler(socketserver.ThreadingTCPServer):
    """Answers every request with headers (or only part of them) and then one byte at a time."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, head: bytes, interval: float) -> None:
        self.head, self.interval, self.stopping = head, interval, threading.Event()
        super().__init__(("127.0.0.1", 0), _DribbleHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/q"


class _DribbleHandler(socketserver.BaseRequestHandler):
    server: _Dribbler

    def handle(self) -> None:
        self.request.recv(65536)
        try:
            self.request.sendall(self.server.head)
            while not self.server.stopping.wait(self.server.interval):
                self.request.sendall(b" ")  # JSON allows any amount of white space
        except OSError:
            pass  # the client gave up


@pytest.fixture(
    params=[
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Slow: ",  # the headers never end
    ],
    ids=["body", "headers"],
)
def dribbler(request: pytest.FixtureRequest) -> Iterator[_Dribbler]:
    server = _Dribbler(request.param, interval=0.1)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.stopping.set()
    server.shutdown()
    server.server_close()


def _fetch_within(request: FetchRequest, seconds: float) -> Observation:
    """The fetch, run on a thread: fails instead of hanging the suite if it does not end."""
    result: list[Observation] = []
    thread = threading.Thread(target=lambda: result.append(fetch(request)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"the fetch was still running after {seconds} s"
    return result[0]


def test_a_backend_that_dribbles_is_cut_off_at_the_deadline(dribbler: _Dribbler) -> None:
    m = metric(urlTemplate=dribbler.url, jqExpression=".value")
    began = time.monotonic()
    observation = _fetch_within(FetchRequest(m, version("v1"), timeout=1.0), seconds=20)
    assert observation.outcome == "timeout"
    assert "within 1 s" in (observation.message or "")
    assert time.monotonic() - began < 10  # the deadline (1 s) plus slack for a loaded machine


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-closed"])
def test_a_huge_answer_is_refused_not_read(http_backend: Backend, declared: bool) -> None:
    body = b'{"value": 1, "pad": "' + b"x" * (transport.MAX_BODY + 10) + b'"}'
    http_backend.routes["/q"] = Answer(body=body, declare_length=declared)
    m = metric(urlTemplate=f"{http_backend.url}/q", jqExpression=".value")
    observation = fetch(FetchRequest(m, version("v1")))
    assert observation.outcome == "error"
    assert "more than 10,485,760" in (observation.message or "")


FORBIDDEN = [
    "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.0.1:{port}/q",
    "http://[fe80::1]:{port}/q",
    "http://[::ffff:169.254.169.254]:{port}/q",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.google.internal./computeMetadata/v1/",
    "http://[fd00:ec2::254]/latest/meta-data/",
]


@pytest.mark.parametrize("url", FORBIDDEN)
def test_file_link_local_and_metadata_urls_are_never_fetched(
    http_backend: Backend, url: str
) -> None:
    m = metric(urlTemplate=url.format(port=http_backend.url.rsplit(":", 1)[1]), jqExpression=".")
    observation = fetch(FetchRequest(m, version("v1")))
    assert observation.outcome == "error"
    reasons = ("is a link-local address", "is a cloud metadata service", "scheme 'file' is refused")
    assert any(reason in (observation.message or "") for reason in reasons), observation.message
    assert http_backend.seen == []


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("169.254.169.254", True),
        ("169.254.255.255", True),
        ("fe80::1", True),
        ("fe80::1%eth0", True),
        ("[febf::1]", True),
        ("::ffff:169.254.1.1", True),
        ("metadata", True),
        ("instance-data.ec2.internal", True),
        ("100.100.100.200", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("fec0::1", False),
        ("prometheus.monitoring.svc", False),
        ("", False),
    ],
)
def test_refusal(host: str, refused: bool) -> None:
    assert (transport.refusal(host) is not None) == refused


def test_a_name_that_resolves_to_a_link_local_address_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS is the one thing faked (no name here resolves to 169.254/16); the check is real."""
    real = socket.getaddrinfo

    def resolve(host: str, *args: object, **kwargs: object) -> object:
        if host == "rebinding.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))]
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    m = metric(urlTemplate="http://rebinding.example/q", jqExpression=".")
    observation = fetch(FetchRequest(m, version("v1"), timeout=2.0))
    assert observation.outcome == "error"
    assert "resolves to 169.254.169.254" in (observation.message or "")


def test_a_proxy_in_the_environment_does_not_bypass_the_checks(
    http_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy (a local server stands in) would resolve the name and connect beyond the checks:
    the environment's proxies are not used (a guard: httpx drops them when given a transport)."""
    real = socket.getaddrinfo

    def resolve(host: str, *args: object, **kwargs: object) -> object:
        if host == "rebinding.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))]
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setenv("HTTP_PROXY", http_backend.url)
    monkeypatch.setenv("http_proxy", http_backend.url)
    m = metric(urlTemplate="http://rebinding.example/q", jqExpression=".")
    observation = fetch(FetchRequest(m, version("v1"), timeout=2.0))
    assert observation.outcome == "error"
    assert "resolves to 169.254.169.254" in (observation.message or "")
    assert http_backend.seen == []


def test_nan_is_unknown_nan(http_backend: Backend) -> None:
    http_backend.routes["/q"] = Answer(body='{"value": NaN, "text": "NaN"}')
    url = f"{http_backend.url}/q"
    for expression in (".value", ".text | tonumber"):
        observation = fetch(
            FetchRequest(metric(urlTemplate=url, jqExpression=expression), version("v1"))
        )
        assert (observation.outcome, observation.value) == ("nan", None), expression


def test_a_401_that_echoes_the_credential_is_unknown_with_it_redacted(
    http_backend: Backend,
) -> None:
    def refuse(seen: Seen, _: int) -> Answer:
        shown = json.dumps({"error": f"bad credentials: {seen.headers.get('authorization')}"})
        return Answer(401, shown)

    http_backend.routes["/q"] = refuse
    secrets = from_mapping({"ns/creds": {"username": "alice", "password": "pa55-word"}})
    m = metric(
        urlTemplate=f"{http_backend.url}/q", authType="Basic", secret="creds", jqExpression="."
    )
    observation = fetch_all(
        [m], [version("v1")], elapsed_seconds=1, secrets=secrets, secret_namespace="ns"
    )[m.key]["v1"]
    assert observation.outcome == "error"
    message = observation.message or ""
    assert message.startswith("HTTP 401: bad credentials: Basic ")
    assert base64.b64encode(b"alice:pa55-word").decode() not in message
    assert "pa55-word" not in message


# -- whatever a backend answers ---------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
_bodies = st.one_of(
    st.binary(max_size=300),
    _json.map(lambda v: json.dumps(v)),
    _json.map(lambda v: json.dumps({"value": v, "data": {"result": [{"value": [0, v]}]}})),
    st.integers(min_value=1, max_value=5000).map(lambda n: "[" * n + "]" * n),  # deep nesting
    st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", '{"value": 1e309}', '{"value": -0.0}']),
)
_expressions = st.sampled_from(
    [".value", ".", ".data.result[0].value[1]", ".value | tonumber", ".[0]", ".value[]", "length"]
)


@pytest.fixture(scope="module")
def answering() -> Iterator[Backend]:
    backend = Backend().start()
    yield backend
    backend.stop()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    status=st.sampled_from([200, 200, 200, 204, 400, 401, 404, 500, 503]),
    body=_bodies,
    expression=_expressions,
    content_type=st.sampled_from(["application/json", "text/html", "application/octet-stream"]),
)
def test_whatever_a_backend_answers_the_fetch_gives_a_number_or_unknown_with_a_message(
    answering: Backend, status: int, body: str | bytes, expression: str, content_type: str
) -> None:
    answering.routes["/q"] = Answer(status, body, content_type=content_type)
    m = metric(urlTemplate=f"{answering.url}/q", jqExpression=expression)
    observation = fetch(FetchRequest(m, version("v1"), timeout=5.0))
    if observation.known:
        assert observation.value is not None and math.isfinite(observation.value)
    else:
        assert observation.outcome != "ok" and observation.message
