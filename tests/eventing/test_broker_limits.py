"""The broker under hostile or heavy input: descriptors, sizes, connections, queues, deadlines and
stopping. Each test runs the real broker (in this process or as `iter8 broker`) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventing.broker import Limits, RunningBroker
from tests.eventing.test_broker_config import iter8_command
from tests.eventing.test_broker_delivery import DEAD_LETTER
from tests.eventing.test_broker_servers import (
    BROKER,
    Request,
    Response,
    Subscriber,
    event,
    post,
    running_broker,
    trigger,
)

HOST = "127.0.0.1"
PATH = "/test/default"


def raw_event(event_id: str, *, close: bool = True, extra: bytes = b"") -> bytes:
    """A binary-mode event as a producer writes it, on a connection it closes (by default)."""
    body = b'{"n":1}'
    return (
        b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nce-specversion: 1.0\r\n"
        b"ce-id: " + event_id.encode() + b"\r\nce-source: /test\r\nce-type: tools.iter8.test\r\n"
        b"content-type: application/json\r\n"
        + extra
        + (b"Connection: close\r\n" if close else b"")
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def exchange(port: int, request: bytes, timeout: float = 30) -> int:
    """Send one request on a fresh connection, reading while sending (as curl does, so an answer
    that comes before the whole request is seen); the status answered (0: none)."""
    with socket.create_connection((HOST, port), timeout=timeout) as conn:
        sender = threading.Thread(target=_send_all, args=(conn, request))
        sender.start()
        answer = b""
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            while b"\r\n" not in answer and (chunk := conn.recv(4096)):
                answer += chunk
        sender.join()
    return status_of(answer)


def _send_all(conn: socket.socket, request: bytes) -> None:
    with contextlib.suppress(OSError):  # the broker stopped reading: it has answered or closed
        conn.sendall(request)


def fresh_connections(port: int, count: int, threads: int = 4) -> list[int]:
    """`count` events, each on its own connection, from `threads` producers; their statuses."""
    statuses: list[int] = []
    lock = threading.Lock()

    def produce(share: int, offset: int) -> None:
        mine = [exchange(port, raw_event(f"e{offset + i}")) for i in range(share)]
        with lock:
            statuses.extend(mine)

    shares = [count // threads + (i < count % threads) for i in range(threads)]
    runners = [
        threading.Thread(target=produce, args=(share, sum(shares[:i])))
        for i, share in enumerate(shares)
    ]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    return statuses


def descriptors(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


@dataclass
class BrokerProcess:
    process: subprocess.Popen[str]
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def iter8_broker(
    folder: Path, manifest: str, subscribers: dict[str, Subscriber], *args: str
) -> Iterator[BrokerProcess]:
    """`iter8 broker` serving `manifest` as a subprocess; SIGTERM on leaving."""
    pairs = [f"--subscriber={name}={s.url}" for name, s in subscribers.items()]
    triggers = folder / "triggers.yaml"
    triggers.write_text(manifest)
    process = subprocess.Popen(
        [*iter8_command(), "--port", "0", "--triggers", str(triggers), *pairs, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        assert match, first
        yield BrokerProcess(process, int(match.group(1)))
    finally:
        if process.poll() is None:  # the test did not stop it itself
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)


@pytest.fixture
def sink() -> Iterator[Subscriber]:
    subscriber = Subscriber()
    yield subscriber
    subscriber.stop()


# --- descriptors ----------------------------------------------------------------------------------


def test_descriptors_stay_flat_over_many_events_on_fresh_connections(
    tmp_path: Path, sink: Subscriber
) -> None:
    """Each fresh client connection used to leave one kept-alive socket to the subscriber behind
    (one per ingress thread). 10,000 events: `python -m bench.broker --fresh-connections`."""
    with iter8_broker(tmp_path, BROKER + trigger("all", "sink"), {"sink": sink}) as broker:
        assert fresh_connections(broker.port, 200) == [202] * 200  # warm: pools at their size
        before = descriptors(broker.pid)
        statuses = fresh_connections(broker.port, 2000)
        after = descriptors(broker.pid)
    assert statuses == [202] * 2000
    assert sink.count == 2200
    assert after - before <= 8, (before, after)


# --- sizes ----------------------------------------------------------------------------------------


@pytest.fixture
def small(sink: Subscriber) -> Iterator[RunningBroker]:
    limits = Limits(max_body=1000, request_seconds=1.0, idle_seconds=1.0)
    with running_broker(BROKER + trigger("all", "sink"), {"sink": sink}, limits=limits) as running:
        yield running


def with_body(body: bytes, framing: bytes | None = None) -> bytes:
    head = raw_event("b").split(b"Content-Length:")[0]
    if framing is None:
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + framing


def test_a_body_at_the_limit_is_taken_and_one_over_it_is_413_unread(
    small: RunningBroker, sink: Subscriber
) -> None:
    assert exchange(small.port, with_body(b'"' + b"a" * 998 + b'"')) == 202
    assert exchange(small.port, with_body(b'"' + b"a" * 999 + b'"')) == 413
    # Refused on its Content-Length, before a byte of it is read
    huge = raw_event("h").split(b"Content-Length:")[0] + b"Content-Length: 8000000000\r\n\r\n"
    assert exchange(small.port, huge) == 413
    assert sink.count == 1


def test_a_chunked_body_over_the_limit_is_413(small: RunningBroker, sink: Subscriber) -> None:
    chunks = b"".join(b"100\r\n" + b"a" * 256 + b"\r\n" for _ in range(4)) + b"0\r\n\r\n"
    assert exchange(small.port, with_body(b"", chunks)) == 413
    endless_trailers = b"0\r\n" + b"x-t: 1\r\n" * 200_000 + b"\r\n"
    assert exchange(small.port, with_body(b"", endless_trailers)) == 413
    assert sink.count == 0


@pytest.mark.parametrize(
    "head",
    [
        b"x-folded: a\r\n"
        + b" "
        + b"b" * 60_000
        + b"\r\n" * 1
        + (b" " + b"b" * 60_000 + b"\r\n") * 140,
        b"".join(b"x-%d: " % i + b"a" * 60_000 + b"\r\n" for i in range(20)),
    ],
    ids=["8 MB of folded lines", "1.2 MB of headers"],
)
def test_a_head_over_1_mib_is_431(small: RunningBroker, head: bytes) -> None:
    request = raw_event("x").replace(b"Host: x\r\n", b"Host: x\r\n" + head)
    assert exchange(small.port, request) == 431


# --- time -----------------------------------------------------------------------------------------


def dribble(port: int, request: bytes, every: float) -> tuple[int, float]:
    """Send `request` a byte at a time; the status answered (0: none) and when it came."""
    began = time.monotonic()
    with socket.create_connection((HOST, port), timeout=10) as conn:
        try:
            for byte in request:
                conn.sendall(bytes([byte]))
                time.sleep(every)
        except OSError:  # the broker cut us off
            pass
        answer = b""
        try:
            while chunk := conn.recv(4096):
                answer += chunk
        except (OSError, TimeoutError):
            pass
    return status_of(answer), time.monotonic() - began


def test_a_client_dribbling_its_head_is_cut_off_at_the_request_deadline(
    small: RunningBroker,
) -> None:
    """Each byte came well within any per-read timeout; the whole request did not."""
    status, took = dribble(small.port, raw_event("d"), every=0.05)  # ~12 s if let through
    assert status == 0
    assert took < 5


def test_a_client_dribbling_its_body_gets_408(small: RunningBroker, sink: Subscriber) -> None:
    request = raw_event("d")
    head, _, body = request.partition(b"\r\n\r\n")
    with socket.create_connection((HOST, small.port), timeout=10) as conn:
        conn.sendall(head + b"\r\n\r\n")
        answer = b""
        with contextlib.suppress(OSError):
            for byte in body:
                time.sleep(0.3)
                conn.sendall(bytes([byte]))
        with contextlib.suppress(OSError, TimeoutError):
            answer = conn.recv(4096)
    assert status_of(answer) == 408
    assert sink.count == 0


def test_an_idle_kept_alive_connection_is_closed(small: RunningBroker) -> None:
    with socket.create_connection((HOST, small.port), timeout=10) as conn:
        conn.sendall(raw_event("k", close=False))
        assert status_of(conn.recv(4096)) == 202
        began = time.monotonic()
        assert conn.recv(4096) == b""  # closed by the broker
    assert time.monotonic() - began < 5


# --- connections ----------------------------------------------------------------------------------


def test_connections_over_the_cap_wait_until_one_ends(sink: Subscriber) -> None:
    limits = Limits(max_connections=4)
    with running_broker(BROKER + trigger("all", "sink"), {"sink": sink}, limits=limits) as broker:
        holders = [socket.create_connection((HOST, broker.port)) for _ in range(4)]
        time.sleep(0.2)  # accepted, each holding a thread, sending nothing
        threads_before = threading.active_count()
        waiting = [socket.create_connection((HOST, broker.port), timeout=10) for _ in range(20)]
        for conn in waiting:
            conn.sendall(raw_event("w"))
        time.sleep(0.5)
        assert threading.active_count() <= threads_before + 1  # not one thread per connection
        assert sink.count == 0
        for holder in holders:
            holder.close()
        statuses = [status_of(conn.recv(4096)) for conn in waiting]
        for conn in waiting:
            conn.close()
    assert statuses == [202] * 20


# --- the async queue ------------------------------------------------------------------------------


def test_a_full_queue_answers_503_with_retry_after_and_queues_nothing_of_the_event() -> None:
    release = threading.Event()

    def hold(_: Request) -> Response:
        release.wait(30)
        return 202, {}, b""

    slow, other = Subscriber(hold), Subscriber()
    manifest = BROKER + trigger("slow", "slow") + trigger("other", "other")
    limits = Limits(max_queue=10)
    try:
        with running_broker(
            manifest, {"slow": slow, "other": other}, async_mode=True, workers=2, limits=limits
        ) as broker:
            url = broker.broker_url("test", "default")
            answers = [post(url, event()) for _ in range(10)]
            statuses = [a.status_code for a in answers]
            refused = [a for a in answers if a.status_code == 503]
            release.set()
            assert broker.wait_idle(30)
            stats = broker.stats
    finally:
        release.set()
        slow.stop()
        other.stop()
    # Two deliveries an event, ten at most queued or under way: five events taken, five refused
    assert statuses == [202] * 5 + [503] * 5
    assert all(a.headers["retry-after"] == "1" for a in refused)
    assert (slow.count, other.count) == (5, 5)
    assert stats["refused"] == 5 and stats["received"] == 5


# --- stopping ---------------------------------------------------------------------------------


def test_stopping_lets_a_synchronous_delivery_under_way_finish(sink: Subscriber) -> None:
    started = threading.Event()

    def slow(_: Request) -> Response:
        started.set()
        time.sleep(1)
        return 202, {}, b""

    subscriber = Subscriber(slow)
    answers: list[int] = []
    try:
        with running_broker(BROKER + trigger("all", "sub"), {"sub": subscriber}) as broker:
            url = broker.broker_url("test", "default")
            client = threading.Thread(target=lambda: answers.append(post(url, event()).status_code))
            client.start()
            assert started.wait(10)
        client.join(10)
    finally:
        subscriber.stop()
    assert answers == [202]


def test_sigterm_drains_then_dead_letters_what_is_still_queued(
    tmp_path: Path, sink: Subscriber
) -> None:
    """20,000 queued events used to be dropped on SIGTERM but for a few."""

    def slow(_: Request) -> Response:
        time.sleep(0.01)
        return 202, {}, b""

    subscriber, dls = Subscriber(slow), Subscriber()
    manifest = BROKER + trigger("all", "sub", delivery=DEAD_LETTER.format(retry=0, policy="linear"))
    try:
        with iter8_broker(
            tmp_path,
            manifest,
            {"sub": subscriber, "dls": dls},
            "--async",
            "--workers",
            "2",
            "--drain-seconds",
            "0.5",
        ) as broker:
            statuses = fresh_connections(broker.port, 600)
            broker.process.send_signal(signal.SIGTERM)
            _, stderr = broker.process.communicate(timeout=60)
    finally:
        subscriber.stop()
        dls.stop()
    assert statuses == [202] * 600
    assert broker.process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert 0 < subscriber.count < 600  # some delivered within the drain, not all
    assert subscriber.count + dls.count == 600
    letters = [r.headers for r in dls.requests]
    assert {h["ce-knativeerrorcode"] for h in letters} == {"503"}
    assert {h["ce-id"] for h in letters}.isdisjoint(r.headers["ce-id"] for r in subscriber.requests)


def test_sigterm_without_a_dead_letter_sink_logs_each_event_left(tmp_path: Path) -> None:
    def slow(_: Request) -> Response:
        time.sleep(0.01)
        return 202, {}, b""

    subscriber = Subscriber(slow)
    try:
        with iter8_broker(
            tmp_path,
            BROKER + trigger("all", "sub"),
            {"sub": subscriber},
            "--async",
            "--workers",
            "2",
            "--drain-seconds",
            "0",
        ) as broker:
            assert fresh_connections(broker.port, 300) == [202] * 300
            broker.process.send_signal(signal.SIGTERM)
            _, stderr = broker.process.communicate(timeout=60)
    finally:
        subscriber.stop()
    logged = set(re.findall(r"event (e\d+) \(tools.iter8.test\) failed", stderr))
    delivered = {r.headers["ce-id"] for r in subscriber.requests}
    assert logged.isdisjoint(delivered)
    assert len(logged | delivered) == 300


def test_clients_that_hang_up_before_their_answer_cost_one_log_line_each(
    tmp_path: Path, sink: Subscriber
) -> None:
    """Each used to write a traceback of some 20 lines to the broker's log."""
    with iter8_broker(tmp_path, BROKER + trigger("all", "sink"), {"sink": sink}) as broker:
        for _ in range(30):
            conn = socket.create_connection((HOST, broker.port))
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.sendall(b"POST /a/b/c HTTP/1.1\r\nHost: x\r\nContent-Length: 9999\r\n\r\nxx")
            conn.close()  # a reset, before the 400 is written
        assert exchange(broker.port, raw_event("after")) == 202
        broker.process.send_signal(signal.SIGTERM)
        _, stderr = broker.process.communicate(timeout=60)
    assert "Traceback" not in stderr
    gone = [line for line in stderr.splitlines() if "went away" in line]
    assert len(gone) <= 30
    assert all(len(line) < 200 for line in gone)


# --- fuzzing the limits: never a 5xx, never an accepted event lost or changed --------------------

FUZZ_LIMITS = Limits(max_body=256, request_seconds=2.0, idle_seconds=2.0)


@pytest.fixture(scope="module")
def fuzz_sink() -> Iterator[Subscriber]:
    subscriber = Subscriber()
    yield subscriber
    subscriber.stop()


@pytest.fixture(scope="module")
def fuzz_broker(fuzz_sink: Subscriber) -> Iterator[RunningBroker]:
    manifest = BROKER + trigger("all", "sink")
    with running_broker(manifest, {"sink": fuzz_sink}, limits=FUZZ_LIMITS) as running:
        yield running


header_names = st.one_of(
    st.sampled_from(["x-request-id", "knative-x", "ce-subject", "ce-ext", "x-b3-traceid"]),
    st.binary(min_size=1, max_size=8).map(lambda raw: raw.decode("latin-1")),
)
header_bytes = st.binary(max_size=40).filter(lambda raw: b"\r" not in raw and b"\n" not in raw)


@st.composite
def hostile_requests(draw: st.DrawFn) -> tuple[str, bytes, bytes]:
    """An event request with fuzzed header bytes, body size and framing, maybe cut short."""
    event_id = uuid.uuid4().hex
    source = draw(st.one_of(st.just(b"/s"), header_bytes.filter(bool)))
    lines = [b"ce-specversion: 1.0", b"ce-id: " + event_id.encode(), b"ce-source: " + source]
    lines += [b"ce-type: t", b"Connection: close"]
    for name, value in draw(st.lists(st.tuples(header_names, header_bytes), max_size=6)):
        lines.append(name.encode("latin-1") + b": " + value)
    lines += [b"x-pad: " + b"p" * 60_000] * draw(st.sampled_from([0, 0, 0, 17, 18]))
    body = draw(st.one_of(st.binary(max_size=300), st.just(b"a" * 256), st.just(b"a" * 257)))
    framing = draw(st.sampled_from(["length", "chunked", "short length", "long length", "none"]))
    if framing == "chunked":
        size = draw(st.integers(1, 64))
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        lines.append(b"Transfer-Encoding: chunked")
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    elif framing != "none":
        shift = {"length": 0, "short length": -1, "long length": 1}[framing]
        lines.append(b"Content-Length: %d" % max(0, len(body) + shift))
    request = b"POST /test/default HTTP/1.1\r\nHost: x\r\n" + b"\r\n".join(lines) + b"\r\n\r\n"
    request += body
    cut = draw(st.one_of(st.none(), st.integers(0, len(request))))
    return event_id, source, request[:cut]


@settings(max_examples=150, deadline=None)
@given(case=hostile_requests())
def test_fuzzed_requests_against_the_limits_never_get_a_5xx_nor_lose_an_event(
    fuzz_broker: RunningBroker, fuzz_sink: Subscriber, case: tuple[str, bytes, bytes]
) -> None:
    event_id, source, request = case
    with socket.create_connection((HOST, fuzz_broker.port), timeout=10) as conn:
        sender = threading.Thread(target=_send_all, args=(conn, request))
        sender.start()
        sender.join()
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)  # what was not sent never will be
        answer = b""
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            while b"\r\n" not in answer and (chunk := conn.recv(4096)):
                answer += chunk
    status = status_of(answer)
    assert status == 0 or 200 <= status < 500, answer[:200]
    if status == 202:  # synchronous: the subscriber had it before the broker answered
        delivered = [r for r in fuzz_sink.requests if r.headers.get("ce-id") == event_id]
        assert len(delivered) == 1
        # HTTP strips a field value's leading and trailing blanks (RFC 9110 5.5): "\t!" is "!"
        assert delivered[0].headers["ce-source"].encode("latin-1") == source.strip(b" \t")


def test_still_serving_after_the_limit_fuzzing(fuzz_broker: RunningBroker) -> None:
    assert exchange(fuzz_broker.port, raw_event("after")) == 202


@pytest.mark.parametrize(
    ("source", "status", "delivered"),
    [
        (b"\t!", 202, "!"),
        (b"! ", 202, "!"),
        (b"a b", 202, "a b"),
        (b" \t", 400, None),
    ],
)
def test_a_source_is_its_field_value_without_the_blanks_around_it(
    fuzz_broker: RunningBroker,
    fuzz_sink: Subscriber,
    source: bytes,
    status: int,
    delivered: str | None,
) -> None:
    event_id = uuid.uuid4().hex
    request = (
        b"POST /test/default HTTP/1.1\r\nHost: x\r\nce-specversion: 1.0\r\nce-id: "
        + event_id.encode()
        + b"\r\nce-source: "
        + source
        + b"\r\nce-type: t\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    assert exchange(fuzz_broker.port, request) == status
    sources = [
        r.headers["ce-source"] for r in fuzz_sink.requests if r.headers.get("ce-id") == event_id
    ]
    assert sources == ([delivered] if delivered is not None else [])
