"""The function processes of the embedded stack serve on sockets the stack holds."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iter8.embedded import processes
from tests.functions import proctree


def _healthz(port: int, timeout: float = 5) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_function_serves_on_the_inherited_socket_and_keeps_its_port_when_restarted(
    tmp_path: Path,
) -> None:
    env = {"ITER8_STORE": f"sqlite:{tmp_path / 'store.db'}"}
    listener = processes.listen()
    port = listener.getsockname()[1]
    first = processes.start("route", env, listener, tmp_path / "route.log")
    try:
        processes.wait_until_serving([first])
        assert _healthz(port) == 200
        first.stop()
        assert first.process.returncode is not None
        second = processes.start("route", env, listener, tmp_path / "route.log")
        try:
            processes.wait_until_serving([second])
            assert second.port == port and _healthz(port) == 200
        finally:
            second.stop()
    finally:
        first.stop()
        listener.close()


def test_a_process_that_exits_is_not_taken_for_a_serving_function() -> None:
    """The kernel accepts connections on the stack's socket whoever serves it, so readiness is
    a probe answered by the function, and a process that ended is reported."""
    listener = processes.listen()
    ended = processes.FunctionProcess(
        "route", listener, subprocess.Popen([sys.executable, "-c", ""])
    )
    try:
        with pytest.raises(RuntimeError, match="function route exited with 0"):
            processes.wait_until_serving([ended], timeout=10)
    finally:
        listener.close()


def _function(tmp_path: Path, env: dict[str, str] | None = None) -> processes.FunctionProcess:
    listener = processes.listen()
    base = {"ITER8_STORE": f"sqlite:{tmp_path / 'store.db'}", **(env or {})}
    function = processes.start("route", base, listener, tmp_path / "route.log")
    processes.wait_until_serving([function])
    return function


def test_the_worker_dies_with_its_arbiter(tmp_path: Path) -> None:
    """kill -9 of a function's arbiter while a request is under way: its gunicorn worker went
    on for ~35 s (a graceful stop of up to 30 s, waiting for the request) serving on the
    socket; its parent-death signal now ends it at once."""
    function = _function(tmp_path)
    client = socket.create_connection(("127.0.0.1", function.port), timeout=5)
    try:
        client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        time.sleep(0.5)  # a thread of the worker now reads the rest of the body
        (worker,) = proctree.children(function.process.pid)
        orphan = proctree.identity(worker)
        assert orphan is not None
        os.kill(function.process.pid, signal.SIGKILL)
        function.process.wait()
        assert proctree.wait_gone({orphan}, timeout=3) == set()
    finally:
        client.close()
        function.stop()
        function.listener.close()


def test_a_function_leads_its_own_process_group(tmp_path: Path) -> None:
    """Ctrl-C in a terminal reaches `iter8 run` alone (it stops the functions in order), and
    a stop can end the arbiter and its worker together."""
    function = _function(tmp_path)
    try:
        pid = function.process.pid
        assert os.getpgid(pid) == pid != os.getpgid(0)
        assert all(os.getpgid(child) == pid for child in proctree.children(pid))
    finally:
        function.stop()
        function.listener.close()


def _dribble(port: int, stop: threading.Event) -> None:
    """A slow client: a header line every 0.2 s, never the end of the headers; when the server
    closes the connection, another one at once."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
                while not stop.wait(0.2):
                    sock.sendall(b"X-Slow: 1\r\n")
        except OSError:
            continue


def test_slow_clients_cannot_starve_the_probes(tmp_path: Path) -> None:
    """Twelve clients that dribble header lines (more than the worker's 8 threads): each is cut
    off at the request deadline (2 s here), so /healthz, queued behind them, is answered within
    it. Before, a dribbling client held its thread for as long as it kept on."""
    function = _function(tmp_path, {"ITER8_REQUEST_DEADLINE_SECONDS": "2"})
    stop = threading.Event()
    clients = [
        threading.Thread(target=_dribble, args=(function.port, stop), daemon=True)
        for _ in range(12)
    ]
    try:
        for client in clients:
            client.start()
        time.sleep(1)  # every thread now holds a slow client
        for _ in range(3):
            started = time.monotonic()
            assert _healthz(function.port, timeout=6) == 200
            assert time.monotonic() - started < 6
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=10)
        function.stop()
        function.listener.close()


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n", 413),
    ],
    ids=["request line > 8190", "101 header fields", "header field > 8190", "body > 4 MiB"],
)
def test_requests_past_the_limits_are_refused(
    tmp_path: Path, request_head: bytes, status: int
) -> None:
    function = _function(tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", function.port), timeout=10) as sock:
            sock.sendall(request_head)
            answer = sock.recv(200)
        assert answer.startswith(b"HTTP/1.1 %d" % status), answer
    finally:
        function.stop()
        function.listener.close()


TCPI_DATA_SEGS_IN = 152  # the offset of tcpi_data_segs_in in Linux's struct tcp_info (4.6+)


def _data_segments_in(sock: socket.socket) -> int:
    """Segments carrying data that this socket's kernel has received so far."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, TCPI_DATA_SEGS_IN)[0])


def _read_reply(sock: socket.socket) -> bytes:
    """One whole HTTP reply (with a Content-Length) from `sock`."""
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += sock.recv(65536)
    head, _, body = reply.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_CORK, tcp_info: Linux")
def test_a_reply_reaches_the_client_as_one_segment(tmp_path: Path) -> None:
    """gunicorn sends a reply's head and body apart: on its TCP_NODELAY sockets they were two
    segments, and the client woke for each. Counted by the client's kernel. A client that
    asks for `100 Continue` still gets it before it sends its body."""
    function = _function(tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", function.port), timeout=10) as sock:
            for _ in range(3):  # on one kept-alive connection
                before = _data_segments_in(sock)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                assert _read_reply(sock).endswith(b"\r\n\r\nok")
                assert _data_segments_in(sock) - before == 1
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n"
            )
            assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(b"{}")
            assert _read_reply(sock).startswith(b"HTTP/1.1 400 ")
    finally:
        function.stop()
        function.listener.close()


def test_the_worker_opens_its_store_before_it_serves(tmp_path: Path) -> None:
    """Warm before the first event: by the time the liveness probe answers, the worker has
    opened the store (SQLite creates its file then), though no event or readiness probe came."""
    store = tmp_path / "store.db"
    listener = processes.listen()
    function = processes.start("analyze", {"ITER8_STORE": f"sqlite:{store}"}, listener)
    try:
        processes.wait_until_serving([function])
        assert store.exists()
    finally:
        function.stop()
        listener.close()


@contextlib.contextmanager
def _iter8_serve(phase: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`iter8 serve PHASE` on a free port, once its liveness probe answers; killed after if it
    is still running."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    iter8 = Path(sys.executable).parent / "iter8"
    env = {**os.environ, "ITER8_STORE": f"sqlite:{tmp_path / 'store.db'}"}
    process = subprocess.Popen(
        [str(iter8), "serve", phase, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None
            try:
                if _healthz(port, timeout=1) == 200:
                    break
            except OSError:
                time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_iter8_serve_is_the_server_itself_and_ends_on_sigterm(tmp_path: Path) -> None:
    """`iter8 serve` serves in its own process (no second interpreter to start, which was
    ~0.1-0.2 s of every cold start): the process spawned is gunicorn's arbiter, its one child
    the worker; SIGTERM to it ends both."""
    with _iter8_serve("route", tmp_path) as process:
        spawned = proctree.descendants(process.pid)
        assert len(spawned) == 1  # the worker, and no interpreter in between
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"serve" in cmdline  # the arbiter is the `iter8 serve` process itself
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert proctree.wait_gone(spawned, timeout=10) == set()


def _libraries(pid: int) -> set[str]:
    """The file names of the shared objects mapped into process `pid`."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {Path(line.split()[-1]).name for line in maps if line.split()[-1].endswith(".so")}


def test_the_worker_loads_the_function_and_the_arbiter_stays_small(tmp_path: Path) -> None:
    """The arbiter (`iter8 serve`) forks its worker before the function is imported: the worker
    pays for no copy of the app's pages, and the arbiter holds neither numpy nor scipy."""

    def scientific(pid: int) -> set[str]:
        return {n for n in _libraries(pid) if n.startswith(("_multiarray_umath", "_ufuncs"))}

    with _iter8_serve("analyze", tmp_path) as process:
        ((worker, _),) = proctree.descendants(process.pid)  # (pid, start time)
        assert len(scientific(worker)) >= 2  # numpy's and scipy.special's, warm
        assert scientific(process.pid) == set()
