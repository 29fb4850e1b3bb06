"""The embedded router's shell (`iter8.dataplane.proxy`) with real HTTP: a real aiohttp server
in front of real local upstreams, routing by an object in a real SQLite store, re-reading it when
it changes, mirroring, session cookies, and every bound (bodies, deadline, concurrency, mirrors).
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from iter8.dataplane.proxy import Limits, Router
from iter8.demo.experiment import BASELINE, CANDIDATE, NAMESPACE, SERVICE
from iter8.demo.scenarios import (
    HTTP_ROUTES,
    SEGMENT_HEADER,
    SESSION_COOKIE,
    http_route,
    mirrored_virtual_service,
    segment_virtual_service,
)
from iter8.store.base import PatchType
from iter8.store.resources import ISTIO_VIRTUAL_SERVICES
from iter8.store.sqlite import SqliteStore


class Upstream:
    """A local version: answers `<name>: <path>`; `/slow` sleeps, `/large` answers 64 KiB;
    counts the requests it received, by path, and the bodies."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits: Counter[str] = Counter()
        self.bodies: list[bytes] = []
        self.delay = 0.0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer()

            def do_POST(self) -> None:
                upstream.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.answer()

            def answer(self) -> None:
                upstream.hits[self.path] += 1
                if self.path == "/slow":
                    time.sleep(upstream.delay)
                body = b"x" * 65536 if self.path == "/large" else f"{name}: {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstreams() -> Iterator[dict[str, Upstream]]:
    servers = {name: Upstream(name) for name in (BASELINE, CANDIDATE)}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "store.db")


Start = Callable[..., Router]


@pytest.fixture
def start(store: SqliteStore, upstreams: dict[str, Upstream]) -> Iterator[Start]:
    routers: list[Router] = []

    def start(obj: dict[str, Any], resource=ISTIO_VIRTUAL_SERVICES, **limits: Any) -> Router:  # type: ignore[no-untyped-def]
        store.create(resource, obj)
        urls = {name: u.url for name, u in upstreams.items()}
        router = Router(
            store, resource, NAMESPACE, SERVICE, urls, Limits(poll_seconds=0.05, **limits)
        )
        routers.append(router.start())
        return router

    yield start
    for router in routers:
        router.stop()


def until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.02)


def version(answer: httpx.Response) -> str:
    return answer.text.split(":", 1)[0]


def test_segment_users_follow_the_split_and_the_router_rereads_it(
    start: Start, store: SqliteStore
) -> None:
    router = start(segment_virtual_service())
    beta = {SEGMENT_HEADER[0]: SEGMENT_HEADER[1]}
    with httpx.Client(base_url=router.url, timeout=10) as client:
        assert {version(client.get("/", headers=beta)) for _ in range(20)} == {BASELINE}
        patch = [{"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 0},
                 {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 100}]  # fmt: skip
        store.patch(ISTIO_VIRTUAL_SERVICES, NAMESPACE, SERVICE, patch, PatchType.JSON)
        until(lambda: version(client.get("/", headers=beta)) == CANDIDATE)
        assert {version(client.get("/", headers=beta)) for _ in range(20)} == {CANDIDATE}
        assert {version(client.get("/")) for _ in range(20)} == {BASELINE}
        answer = client.post("/echo?q=1", content=b"payload", headers=beta)
    assert answer.text == f"{CANDIDATE}: /echo?q=1"
    assert router.counts.served[CANDIDATE] >= 21 and router.counts.served[BASELINE] >= 40


def test_mirrored_copies_reach_the_candidate_and_their_answers_are_discarded(
    start: Start, upstreams: dict[str, Upstream]
) -> None:
    obj = mirrored_virtual_service()
    obj["spec"]["http"][0]["mirrorPercentage"] = {"value": 100.0}
    router = start(obj)
    with httpx.Client(base_url=router.url, timeout=10) as client:
        answers = [client.post("/m", content=f"body {i}".encode()) for i in range(20)]
    assert {a.text for a in answers} == {f"{BASELINE}: /m"}
    until(lambda: upstreams[CANDIDATE].hits["/m"] == 20)
    assert sorted(upstreams[CANDIDATE].bodies) == sorted(f"body {i}".encode() for i in range(20))
    assert router.counts.mirrored == 20 and router.counts.mirror_dropped == 0


def test_mirrors_past_the_in_flight_bound_are_dropped_and_counted(
    start: Start, upstreams: dict[str, Upstream]
) -> None:
    obj = mirrored_virtual_service()
    obj["spec"]["http"][0]["mirrorPercentage"] = {"value": 100.0}
    upstreams[CANDIDATE].delay = 1.0  # the mirror is slow; users must not wait for it
    router = start(obj, max_mirrors_in_flight=2)
    with httpx.Client(base_url=router.url, timeout=10) as client:
        began = time.monotonic()
        answers = [client.get("/slow") for _ in range(6)]
        took = time.monotonic() - began
    assert {version(a) for a in answers} == {BASELINE}
    assert took < 1.0, "users waited for the mirror"
    assert router.counts.mirrored == 2 and router.counts.mirror_dropped == 4


def test_the_session_cookie_is_set_and_honoured(start: Start, store: SqliteStore) -> None:
    router = start(http_route((100, 0), sticky=True), resource=HTTP_ROUTES)
    with httpx.Client(base_url=router.url, timeout=10) as client:
        first = client.get("/")
        assert version(first) == BASELINE and first.cookies[SESSION_COOKIE] == BASELINE
        patch = [{"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 0},
                 {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 100}]  # fmt: skip
        store.patch(HTTP_ROUTES, NAMESPACE, SERVICE, patch, PatchType.JSON)
        until(lambda: router.table is not None and router.counts.tables == 2)
        assert {version(client.get("/")) for _ in range(20)} == {BASELINE}  # the client's cookie
        client.cookies.clear()
        assert version(client.get("/")) == CANDIDATE  # a new user follows the new split


def test_an_unknown_destination_or_a_deleted_object_is_a_503(
    start: Start, store: SqliteStore
) -> None:
    obj = segment_virtual_service()
    obj["spec"]["http"][1]["route"][0]["destination"]["host"] = "nobody-listens"
    router = start(obj)
    with httpx.Client(base_url=router.url, timeout=10) as client:
        assert client.get("/").status_code == 503
        assert client.get("/", headers={SEGMENT_HEADER[0]: SEGMENT_HEADER[1]}).status_code == 200
        store.delete(ISTIO_VIRTUAL_SERVICES, NAMESPACE, SERVICE)
        until(lambda: router.table is None)
        assert client.get("/", headers={SEGMENT_HEADER[0]: SEGMENT_HEADER[1]}).status_code == 503
    assert router.counts.unavailable == 2


def test_bodies_past_their_caps_are_refused(start: Start) -> None:
    router = start(segment_virtual_service(), max_request_bytes=1024, max_response_bytes=1024)
    with httpx.Client(base_url=router.url, timeout=10) as client:
        assert client.post("/", content=b"x" * 2048).status_code == 413
        assert client.post("/", content=b"x" * 512).status_code == 200
        assert client.get("/large").status_code == 502


def test_an_upstream_past_its_deadline_is_a_504(
    start: Start, upstreams: dict[str, Upstream]
) -> None:
    upstreams[BASELINE].delay = 2.0
    router = start(segment_virtual_service(), upstream_deadline_seconds=0.3)
    with httpx.Client(base_url=router.url, timeout=10) as client:
        began = time.monotonic()
        assert client.get("/slow").status_code == 504
        assert time.monotonic() - began < 1.5


def test_requests_past_the_concurrency_limit_are_a_503(
    start: Start, upstreams: dict[str, Upstream]
) -> None:
    upstreams[BASELINE].delay = 1.0
    router = start(segment_virtual_service(), max_concurrent_requests=2)
    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(lambda _: httpx.get(router.url + "/slow", timeout=10).status_code, range(4)))  # fmt: skip
    assert codes == [200, 200, 503, 503]


def test_a_port_in_use_is_an_error_and_leaves_nothing_running(
    store: SqliteStore, upstreams: dict[str, Upstream]
) -> None:
    store.create(ISTIO_VIRTUAL_SERVICES, segment_virtual_service())
    threads = set(threading.enumerate())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        router = Router(store, ISTIO_VIRTUAL_SERVICES, NAMESPACE, SERVICE, {})
        with pytest.raises(OSError):
            router.start(port=taken.getsockname()[1])
    assert set(threading.enumerate()) == threads
