"""`fetch_all`'s process-wide resources: one client and one pool, reused; none without I/O;
fetches that wait on a backend overlap; mock draws reproducible from the seed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from iter8.metrics import registry, transport
from iter8.metrics.registry import fetch_all
from tests.metrics.builders import metric, params, version

ANSWER = json.dumps({"data": {"resultType": "vector", "result": [{"value": [0, "0.5"]}]}})


class KeepAliveBackend:
    """A Prometheus-like endpoint speaking HTTP/1.1 (connections are kept), recording the
    client address of each request; with `together`, each request waits until that many are
    in flight, and fails if they never are."""

    def __init__(self, together: int = 1) -> None:
        self.peers: list[tuple[str, int]] = []
        barrier = threading.Barrier(together, timeout=10)
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                backend.peers.append(self.client_address)
                try:
                    barrier.wait()
                    status, body = 200, ANSWER.encode()
                except threading.BrokenBarrierError:
                    status, body = 500, b'{"error": "the fetches did not overlap"}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/query"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backend() -> Iterator[KeepAliveBackend]:
    served = KeepAliveBackend()
    yield served
    served.close()


def prometheus_metric(url: str, name: str = "m") -> Any:
    return metric(
        name, urlTemplate=url, params=params(query="up"),
        jqExpression=".data.result[0].value[1] | tonumber",
    )  # fmt: skip


def test_iterations_reuse_the_process_client_and_its_connection(
    backend: KeepAliveBackend,
) -> None:
    m = prometheus_metric(backend.url)
    for _ in range(3):
        assert fetch_all([m], [version("v1")], elapsed_seconds=5)["ns/m"]["v1"].value == 0.5
    assert len(backend.peers) == 3
    assert len(set(backend.peers)) == 1  # one kept-alive connection, not a client per iteration


def test_nine_fetches_are_in_flight_at_once() -> None:
    backend = KeepAliveBackend(together=9)
    try:
        metrics = [prometheus_metric(backend.url, f"m{i}") for i in range(3)]
        versions = [version(f"v{i}") for i in range(3)]
        found = fetch_all(metrics, versions, elapsed_seconds=5)
    finally:
        backend.close()
    assert [o.value for by in found.values() for o in by.values()] == [0.5] * 9


def test_without_io_there_is_no_pool_and_no_client(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_: object, **__: object) -> None:
        raise AssertionError("mock and built-in metrics need neither a pool nor a client")

    monkeypatch.setattr(registry, "ThreadPoolExecutor", refused)
    monkeypatch.setattr(registry, "_pool", refused)
    monkeypatch.setattr(transport, "client", refused)
    monkeypatch.setattr(transport, "shared", refused)
    mock = metric("g", mock=[{"name": "v1", "level": "10"}, {"name": "v2", "level": "20"}])
    builtin = metric("request-count", "iter8-system", provider="iter8")
    found = fetch_all([mock, builtin], [version("v1"), version("v2")], elapsed_seconds=3)
    assert found["ns/g"]["v1"].known and found["ns/g"]["v2"].known
    assert found["iter8-system/request-count"]["v1"].outcome == "no-data"


@pytest.mark.parametrize("t", [1, 10])
def test_mock_gauges_through_fetch_all_keep_their_distribution(t: int) -> None:
    """Mean `x` and variance `x²/(2t+1)` (iter8-v2.md §2.4), over many seeds, for every metric
    and version: one generator per call must not bias or correlate the draws."""
    levels = [{"name": "v1", "level": "10"}, {"name": "v2", "level": "40"}]
    metrics = [metric("a", mock=levels), metric("b", mock=levels)]
    versions = [version("v1"), version("v2")]
    runs = [fetch_all(metrics, versions, elapsed_seconds=t, seed=s) for s in range(3000)]
    for key in ("ns/a", "ns/b"):
        for name, x in (("v1", 10.0), ("v2", 40.0)):
            values = np.array([r[key][name].value for r in runs])
            assert values.mean() == pytest.approx(x, rel=0.03)
            assert values.var() == pytest.approx(x * x / (2 * t + 1), rel=0.1)
    a = np.array([r["ns/a"]["v1"].value for r in runs])
    b = np.array([r["ns/b"]["v1"].value for r in runs])
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.1  # two metrics are independent draws


def test_a_fetch_that_waits_past_its_timeout_for_a_pool_thread_is_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pool is shared by every handler thread: a fetch queued behind busy threads for longer
    than its timeout is not started, so an iteration's fetches end within twice the timeout."""
    release = threading.Event()
    busy = ThreadPoolExecutor(max_workers=1)
    busy.submit(release.wait, 10)
    threading.Timer(0.6, release.set).start()  # the only thread is busy for 0.6 s
    monkeypatch.setattr(registry, "_pool", lambda: busy)
    m = prometheus_metric("http://127.0.0.1:9/api/v1/query")
    try:
        found = fetch_all([m], [version("v1"), version("v2")], elapsed_seconds=5, timeout=0.2)
    finally:
        release.set()
        busy.shutdown()
    assert {o.outcome for o in found["ns/m"].values()} == {"timeout"}
    assert "waited" in (found["ns/m"]["v1"].message or "")
