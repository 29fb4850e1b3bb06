"""The broker ingress: Knative's HTTP rules in front of the engine, independent of the server.

In the order of `pkg/broker/ingress/ingress_handler.go`: every answer carries
`Allow: POST, OPTIONS`; OPTIONS → 200 with the WebHook headers; other methods → 405; path `/` →
404; a path that is not `/<namespace>/<broker>` (one trailing slash allowed, query included as in
Go's `RequestURI`) → 400; a body that is not a valid binary or structured CloudEvent → 400; an
unknown broker → 404; a spent TTL → 400; then what the channel answers (202, or 500). Bodies are
empty, as Knative's are; the reason for a refusal is logged. Beyond Knative: a body over the
limit → 413, a body not all there before the request's deadline → 408, and 503 while the broker
cannot take more (queue full, or stopping).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from eventing.broker.engine import UNAVAILABLE, Engine
from eventing.broker.event import InvalidEvent
from eventing.broker.passthrough import passthrough
from eventing.broker.wire import Headers, decode

log = logging.getLogger(__name__)

ALLOW = ("Allow", "POST, OPTIONS")
RETRY_AFTER = ("Retry-After", "1")  # seconds, with a 503: the queue is full or the broker stopping
WEBHOOK = [("WebHook-Allowed-Origin", "*"), ("WebHook-Allowed-Rate", "*")]
Answer = tuple[int, list[tuple[str, str]]]


class BadRequest(Exception):
    """The HTTP message itself is broken (e.g. its body cannot be read): 400, or `status`."""

    status = 400


class BodyTooLarge(BadRequest):
    status = 413


class RequestTimeout(BadRequest):
    """The request was not all there before its deadline (a slow or stalled client)."""

    status = 408


class Ingress:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def handle(
        self, method: str, uri: str, headers: Headers, read_body: Callable[[], bytes]
    ) -> Answer:
        """Status and headers for one request; the body is read only once it is wanted."""
        try:
            status, extra = self._handle(method, uri, headers, read_body)
        except Exception:
            log.exception("broker ingress failed")
            status, extra = 500, []
        return status, [ALLOW, *extra]

    def _handle(
        self, method: str, uri: str, headers: Headers, read_body: Callable[[], bytes]
    ) -> Answer:
        if method == "OPTIONS":
            return 200, WEBHOOK
        if method != "POST":
            return 405, []
        if uri == "/":
            return 404, []
        parts = uri.removesuffix("/").split("/")
        if len(parts) != 3:
            log.info("ingress: 400 for malformed path %r", uri)
            return 400, []
        try:
            event = decode(headers, read_body())
        except BadRequest as error:
            log.info("ingress: %d for %s: %s", error.status, uri, error)
            return error.status, []
        except InvalidEvent as error:
            log.info("ingress: 400 for %s: %s", uri, error)
            return 400, []
        key = (parts[1], parts[2])
        if not self.engine.has_broker(*key):
            log.info("ingress: 404, no broker %s/%s", *key)
            return 404, []
        status = self.engine.ingest(key, event, passthrough(headers))
        return status, [RETRY_AFTER] if status == UNAVAILABLE else []
