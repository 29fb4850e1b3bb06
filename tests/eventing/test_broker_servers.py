"""Test support: real HTTP subscribers on 127.0.0.1 and brokers built from inline manifests.

(A `test_` module so it sits with the broker's tests; it holds no tests of its own.)
"""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent, from_http

from eventing.broker import EmbeddedBroker, RecordingClock, RunningBroker, SubscriberMap
from iter8.manifests import Document, parse_documents


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float = field(default_factory=time.monotonic)
    answered_at: float | None = None  # when the response was about to be written

    def event(self) -> CloudEvent:
        return from_http(self.headers, self.body)


Response = tuple[int, dict[str, str], bytes]
Respond = Callable[[Request], Response]


def accept(_: Request) -> Response:
    return 202, {}, b""


def status(code: int, body: bytes = b"") -> Respond:
    return lambda _: (code, {}, body)


def reply_with(event: CloudEvent, code: int = 200) -> Response:
    headers, body = to_binary(event)
    return code, dict(headers), body


class Subscriber:
    """Records every request; answers with `respond(request)` (202 and no body by default)."""

    def __init__(self, respond: Respond = accept) -> None:
        self.respond = respond
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = Request(
                    "POST",
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                with subscriber._arrived:
                    subscriber.requests.append(request)
                    subscriber._arrived.notify_all()
                code, headers, body = subscriber.respond(request)
                request.answered_at = time.monotonic()  # before the write: whoever reads the
                self.send_response(code)  # response can rely on it being set
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def events(self) -> list[CloudEvent]:
        with self._lock:
            return [r.event() for r in self.requests]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def manifests(text: str) -> list[Document]:
    return parse_documents(textwrap.dedent(text), "test.yaml")


@contextmanager
def running_broker(
    text: str, subscribers: Mapping[str, Subscriber | str], **options: Any
) -> Iterator[RunningBroker]:
    """A broker serving the manifests in `text`, refs resolved to the given subscribers."""
    urls = {name: s if isinstance(s, str) else s.url for name, s in subscribers.items()}
    options.setdefault("clock", RecordingClock())
    with EmbeddedBroker(manifests(text), SubscriberMap(urls), **options).serve() as running:
        yield running


def event(type_: str = "tools.iter8.test", data: Any = None, **attributes: str) -> CloudEvent:
    return CloudEvent(
        {"type": type_, "source": "/test", "datacontenttype": "application/json", **attributes},
        data if data is not None else {"n": 1},
    )


def post(url: str, ce: CloudEvent, mode: str = "binary", **headers: str) -> httpx.Response:
    """What a producer does: the cloudevents SDK's encoding, POSTed with httpx."""
    wire_headers, body = to_binary(ce) if mode == "binary" else to_structured(ce)
    return httpx.post(url, headers={**wire_headers, **headers}, content=body, timeout=60)


def trigger(
    name: str,
    subscriber: str,
    filters: str = "",
    delivery: str = "",
    broker: str = "default",
    namespace: str = "test",
) -> str:
    """A Trigger manifest; `filters` and `delivery` are YAML blocks indented under `spec`."""
    return textwrap.dedent(
        f"""\
        ---
        apiVersion: eventing.knative.dev/v1
        kind: Trigger
        metadata: {{name: {name}, namespace: {namespace}}}
        spec:
          broker: {broker}
          subscriber:
            ref: {{apiVersion: serving.knative.dev/v1, kind: Service, name: {subscriber}}}
        """
    ) + textwrap.indent(textwrap.dedent(filters) + textwrap.dedent(delivery), "  ")


BROKER = """\
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: default, namespace: test}
"""
