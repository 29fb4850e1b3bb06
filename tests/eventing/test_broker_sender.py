"""The broker's HTTP client against a raw socket server that answers with scripted bytes, so each
way an HTTP/1.1 answer can be framed (and broken) is exercised exactly."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from eventing.broker.sender import MAX_BODY, BadResponse, ClosedEarly, Sender

# One scripted answer: the bytes to write back, and whether to close the connection after.
Script = Callable[[bytes], tuple[bytes, bool]]


@dataclass
class RawServer:
    """Reads each request whole (head and `Content-Length` body) and answers with `script`."""

    script: Script
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/path?q=1"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    piece = conn.recv(65536)
                    if not piece:
                        return
                    buffer += piece
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                request, buffer = head + b"\r\n\r\n" + buffer[:length], buffer[length:]
                self.requests.append(request)
                answer, close = self.script(request)
                conn.sendall(answer)
                if close:
                    return

    def stop(self) -> None:
        self._listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Script], RawServer]]:
    servers: list[RawServer] = []

    def start(script: Script) -> RawServer:
        servers.append(RawServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sender() -> Iterator[Sender]:
    client = Sender()
    yield client
    client.close()


def always(answer: bytes, close: bool = False) -> Script:
    return lambda _: (answer, close)


HEADERS = [("ce-id", "1"), ("ce-type", "t")]


def test_the_request_is_one_post_with_host_length_and_the_headers_given(
    serve: Callable[[Script], RawServer], sender: Sender
) -> None:
    server = serve(always(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"))
    assert sender.post(server.url, HEADERS, b'{"a": 1}', 5) == (202, {"content-length": "0"}, b"")
    [request] = server.requests
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /path?q=1 HTTP/1.1"
    port = server.url.split(":")[2].split("/")[0]
    assert set(lines[1:]) == {
        f"Host: 127.0.0.1:{port}".encode(),
        b"ce-id: 1",
        b"ce-type: t",
        b"Content-Length: 8",
    }
    assert body == b'{"a": 1}'


def test_keep_alive_carries_the_next_request_on_the_same_connection(
    serve: Callable[[Script], RawServer], sender: Sender
) -> None:
    server = serve(always(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nok"))
    for _ in range(3):
        assert sender.post(server.url, HEADERS, b"", 5) == (
            200,
            {"content-length": "2", "x-a": "b"},
            b"ok",
        )
    assert server.connections == 1


def test_chunked_bodies_with_extensions_and_trailers(
    serve: Callable[[Script], RawServer], sender: Sender
) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    server = serve(always(answer))
    for _ in range(2):  # the connection is still usable after the trailers
        assert sender.post(server.url, HEADERS, b"", 5)[2] == b"hello world"
    assert server.connections == 1


def test_a_body_without_length_ends_with_the_connection(
    serve: Callable[[Script], RawServer], sender: Sender
) -> None:
    server = serve(always(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", True))
    assert sender.post(server.url, HEADERS, b"", 5)[2] == b"until close"
    assert sender.post(server.url, HEADERS, b"", 5)[2] == b"until close"
    assert server.connections == 2


@pytest.mark.parametrize(
    "head",
    [b"HTTP/1.1 202 Accepted\r\nConnection: close\r\n", b"HTTP/1.0 202 Accepted\r\n"],
)
def test_connection_close_and_http_1_0_are_not_reused(
    head: bytes, serve: Callable[[Script], RawServer], sender: Sender
) -> None:
    server = serve(always(head + b"Content-Length: 0\r\n\r\n", True))
    for _ in range(2):
        assert sender.post(server.url, HEADERS, b"", 5)[0] == 202
    assert server.connections == 2


def test_interim_answers_are_skipped(serve: Callable[[Script], RawServer], sender: Sender) -> None:
    answer = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"
    )
    server = serve(always(answer))
    assert sender.post(server.url, HEADERS, b"", 5) == (200, {"content-length": "4"}, b"done")


def test_no_body_for_204_and_304(serve: Callable[[Script], RawServer], sender: Sender) -> None:
    server = serve(always(b"HTTP/1.1 204 No Content\r\n\r\n"))
    for _ in range(2):
        assert sender.post(server.url, HEADERS, b"", 5) == (204, {}, b"")
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_retried_once_fresh(
    serve: Callable[[Script], RawServer], sender: Sender
) -> None:
    """Like a keep-alive timeout: the server answers, then closes without saying so."""
    server = serve(always(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", True))
    for _ in range(3):
        assert sender.post(server.url, HEADERS, b"", 5)[0] == 202
    assert server.connections == 3
    assert len(server.requests) == 3  # nothing was sent twice to a live connection


def test_a_fresh_connection_closed_without_an_answer_is_an_error_not_a_retry(
    serve: Callable[[Script], RawServer], sender: Sender
) -> None:
    server = serve(always(b"", True))
    with pytest.raises(ClosedEarly):
        sender.post(server.url, HEADERS, b"", 5)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 2xx OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    ],
)
def test_a_broken_answer_is_an_error(
    answer: bytes, serve: Callable[[Script], RawServer], sender: Sender
) -> None:
    server = serve(always(answer, True))
    with pytest.raises((BadResponse, ClosedEarly)):
        sender.post(server.url, HEADERS, b"", 5)


_OVER = MAX_BODY + 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % _OVER,  # refused before it is read
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"100000\r\n"
        + b"a" * 0x100000
        + b"\r\n"  # 1 MiB chunks, three of them
        + b"100000\r\n"
        + b"a" * 0x100000
        + b"\r\n"
        + b"100000\r\n"
        + b"a" * 0x100000
        + b"\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n" + b"a" * _OVER,  # ends with the connection
    ],
    ids=["content-length", "chunked", "until-close"],
)
def test_an_answer_over_the_body_bound_is_an_error_in_every_framing(
    answer: bytes, serve: Callable[[Script], RawServer], sender: Sender
) -> None:
    server = serve(always(answer, True))
    with pytest.raises(BadResponse, match="over"):
        sender.post(server.url, HEADERS, b"", 5)


@pytest.mark.parametrize("header", [("ce-x", "a\r\nInjected: 1"), ("ce-x\n", "a"), ("ce-x", "\0")])
def test_no_header_can_carry_a_line_break(
    header: tuple[str, str], serve: Callable[[Script], RawServer], sender: Sender
) -> None:
    server = serve(always(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"))
    with pytest.raises(ValueError, match="line break"):
        sender.post(server.url, [header], b"", 5)
    assert server.requests == []


def test_a_silent_server_times_out(serve: Callable[[Script], RawServer], sender: Sender) -> None:
    hold = threading.Event()

    def silent(_: bytes) -> tuple[bytes, bool]:
        hold.wait(5)
        return b"", True

    server = serve(silent)
    with pytest.raises(TimeoutError):
        sender.post(server.url, HEADERS, b"", 0.3)
    hold.set()


def test_a_closed_sender_refuses_new_connections(serve: Callable[[Script], RawServer]) -> None:
    server = serve(always(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"))
    client = Sender()
    client.close()
    with pytest.raises(RuntimeError, match="stopping"):
        client.post(server.url, HEADERS, b"", 5)


# --- the pool: shared by threads, bounded, idle connections closed ------------------------------


def descriptors() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"


def test_threads_share_the_pool_so_a_thread_that_ends_leaves_no_connection(
    serve: Callable[[Script], RawServer], sender: Sender
) -> None:
    """One kept-alive connection per delivering thread used to outlive the thread."""
    server = serve(always(ACCEPTED))
    for _ in range(50):  # one short-lived thread per delivery, as one per client connection
        thread = threading.Thread(target=sender.post, args=(server.url, HEADERS, b"", 5))
        thread.start()
        thread.join()
    assert server.connections == 1
    assert len(server.requests) == 50


def test_idle_connections_beyond_the_bound_are_closed(
    serve: Callable[[Script], RawServer],
) -> None:
    server = serve(always(ACCEPTED))
    client = Sender(max_idle_per_origin=2)
    barrier = threading.Barrier(6)

    def deliver() -> None:
        barrier.wait()
        client.post(server.url, HEADERS, b"", 5)

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.open_connections <= 2
    client.close()


def test_a_connection_the_server_closed_while_idle_is_closed_here_too(
    serve: Callable[[Script], RawServer], sender: Sender
) -> None:
    """No socket left in CLOSE-WAIT until the next delivery (there may be none for long)."""
    server = serve(always(ACCEPTED, close=True))
    before = descriptors()
    assert sender.post(server.url, HEADERS, b"", 5)[0] == 202
    deadline = time.monotonic() + 5
    while descriptors() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert descriptors() == before


def test_connections_idle_for_longer_than_the_timeout_are_closed(
    serve: Callable[[Script], RawServer],
) -> None:
    server = serve(always(ACCEPTED))
    client = Sender(idle_timeout=0.2)
    assert client.post(server.url, HEADERS, b"", 5)[0] == 202
    deadline = time.monotonic() + 5
    while client.open_connections and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.open_connections == 0
    assert client.post(server.url, HEADERS, b"", 5)[0] == 202  # and a new one is made
    assert server.connections == 2
    client.close()
