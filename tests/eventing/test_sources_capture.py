"""A local HTTP receiver on 127.0.0.1 that records what is POSTed to it: it stands in for the
broker ingress (sources' sink) and for a webhook or Slack server (sinks' downstream)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cloudevents.http import CloudEvent, from_http


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]  # names in lowercase
    body: bytes

    def event(self) -> CloudEvent:
        return from_http(self.headers, self.body)


class Capture:
    """Answers `statuses` in turn (then `default`), after calling `on_request` if given."""

    def __init__(self, statuses: list[int] | None = None, default: int = 202) -> None:
        self.statuses = list(statuses or [])
        self.default = default
        self.on_request: Callable[[Request], None] | None = None
        self.requests: list[Request] = []
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def wait_for(
        self, count: int, where: Callable[[Request], bool] | None = None, timeout: float = 20.0
    ) -> list[Request]:
        """The first `count` requests (that satisfy `where`), waiting for them; the timeout is
        a generous bound against hanging, not a timing test."""

        def matching() -> list[Request]:
            return [r for r in self.requests if where is None or where(r)]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= count, timeout):
                raise AssertionError(f"got {len(matching())} requests, expected {count}")
            return matching()[:count]

    def events(self) -> list[CloudEvent]:
        with self._changed:
            return [r.event() for r in self.requests]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _record(self, request: Request) -> int:
        if self.on_request is not None:
            self.on_request(request)
        with self._changed:
            self.requests.append(request)
            status = self.statuses.pop(0) if self.statuses else self.default
            self._changed.notify_all()
        return status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = capture._record(Request(self.path, headers, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        return Handler


@pytest.fixture
def capture() -> Iterator[Capture]:
    with Capture() as receiver:
        yield receiver


def test_capture_records_in_order_and_answers_the_given_statuses(capture: Capture) -> None:
    capture.statuses = [503]
    with httpx.Client() as client:
        first = client.post(capture.url + "a", content=b"1")
        second = client.post(capture.url + "b", content=b"2")
    assert (first.status_code, second.status_code) == (503, 202)
    assert [(r.path, r.body) for r in capture.wait_for(2)] == [("/a", b"1"), ("/b", b"2")]
