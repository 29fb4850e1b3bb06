"""The broker ingress as an ASGI app: Knative's HTTP rules in front of the engine.

In the order of `pkg/broker/ingress/ingress_handler.go`: every answer carries
`Allow: POST, OPTIONS`; OPTIONS → 200 with the WebHook headers; other methods → 405; path `/` →
404; a path that is not `/<namespace>/<broker>` (one trailing slash allowed, query included as in
Go's `RequestURI`) → 400; a body that is not a valid binary or structured CloudEvent → 400; an
unknown broker → 404; a spent TTL → 400; then what the channel answers (202, or 500). Bodies are
empty, as Knative's are; the reason for a refusal is logged.

The engine blocks (a synchronous fan-out lasts as long as its reply chains), so it runs on a
thread pool; the event loop only parses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eventing.broker.engine import Engine
from eventing.broker.event import InvalidEvent
from eventing.broker.passthrough import passthrough
from eventing.broker.wire import decode, header_map

log = logging.getLogger(__name__)

ALLOW = (b"allow", b"POST, OPTIONS")
WEBHOOK = [(b"webhook-allowed-origin", b"*"), (b"webhook-allowed-rate", b"*")]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Disconnected(Exception):
    pass


class IngressApp:
    def __init__(self, engine: Engine, threads: int = 256) -> None:
        self.engine = engine
        # Large: each synchronous delivery holds a thread, and a subscriber may itself post to
        # the broker (K_SINK) while being delivered to.
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ingress")

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        extra: list[tuple[bytes, bytes]] = []
        try:
            status = await self.handle(scope, receive, extra)
        except Disconnected:
            return
        except Exception:
            log.exception("broker ingress failed")
            status = 500
        headers = [ALLOW, *extra, (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def handle(
        self, scope: dict[str, Any], receive: Receive, extra: list[tuple[bytes, bytes]]
    ) -> int:
        method = scope["method"]
        if method == "OPTIONS":
            extra += WEBHOOK
            return 200
        if method != "POST":
            return 405
        uri = request_uri(scope)
        if uri == "/":
            return 404
        parts = uri.removesuffix("/").split("/")
        if len(parts) != 3:
            log.info("ingress: 400 for malformed path %r", uri)
            return 400
        body = await _read_body(receive)
        headers = header_map((_text(k), _text(v)) for k, v in scope["headers"])
        try:
            event = decode(headers, body)
        except InvalidEvent as error:
            log.info("ingress: 400 for %s: %s", uri, error)
            return 400
        key = (parts[1], parts[2])
        if not self.engine.has_broker(*key):
            log.info("ingress: 404, no broker %s/%s", *key)
            return 404
        if self.engine.async_mode:  # only queues: no need to leave the event loop
            return self.engine.ingest(key, event, passthrough(headers))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, self.engine.ingest, key, event, passthrough(headers)
        )

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def request_uri(scope: dict[str, Any]) -> str:
    """The request target as sent (Go's `RequestURI`), query string included."""
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    return _text(raw + b"?" + query if query else raw)


def _text(raw: bytes) -> str:
    """Header bytes as UTF-8 where they are, else latin-1 (what HTTP/1.1 servers assume)."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
