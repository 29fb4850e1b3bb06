"""The broker under hostile or heavy input: descriptors, sizes, connections, queues, deadlines and
stopping. Each test runs the real broker (in this process or as `iter8 broker`) on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.eventing.test_broker_config import iter8_command
from tests.eventing.test_broker_servers import BROKER, Subscriber, trigger

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
    """Send one request on a fresh connection; the status of its answer (0: none)."""
    with socket.create_connection((HOST, port), timeout=timeout) as conn:
        conn.sendall(request)
        answer = b""
        try:
            while b"\r\n" not in answer and (chunk := conn.recv(4096)):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return status_of(answer)


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
        if process.poll() is None:
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
