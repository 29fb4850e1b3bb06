"""The Knative-correct shape of a function: one CloudEvent in, one CloudEvent or nothing out.

functions-framework's `cloud_event` handlers always answer `200 OK` with a text body, which a
Knative broker counts as a failed delivery (knative.md §A3), so each phase is an `http` function
wrapped by `serve`: 200 with a binary-mode CloudEvent (the reply), 202 with an empty body, 400
for an event that is wrong and will stay wrong (a type the function does not handle, too: a
Trigger sent it by mistake, and acting on its data would be guessing), 500 for one worth
retrying. GET serves the probes (`/healthz`, `/readyz`) and `/metrics`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from cloudevents.exceptions import GenericException
from cloudevents.http import CloudEvent
from flask import Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from functions import observability, wire
from functions.runtime import Runtime, runtime
from iter8.events import BadEvent, EventType

Handler = Callable[[CloudEvent, Runtime], CloudEvent | None]
Response = tuple[bytes | str, int, dict[str, str]]

log = logging.getLogger("iter8.functions")
TEXT = {"Content-Type": "text/plain"}
_logging_configured = False


def serve(
    request: Request, handler: Handler, phase: str, accepts: Collection[EventType]
) -> Response:
    global _logging_configured
    if not _logging_configured:
        observability.configure_logging()
        _logging_configured = True
    if request.method == "GET":
        return _probe(request.path)
    if request.method != "POST":
        return "", 405, {"Allow": "GET, POST"}
    try:
        event = wire.read(request.headers, request.get_data())
    except (GenericException, ValueError, TypeError, UnicodeDecodeError, RecursionError) as error:
        # RecursionError: JSON nested deeper than the parser's stack (a structured-mode event)
        observability.EVENTS.labels(phase, "", "malformed").inc()
        return f"not a CloudEvent: {str(error)[:200]}", 400, TEXT
    context = {
        "event": str(event["id"]),
        "type": str(event["type"]),
        "experiment": str(event.get("experiment") or ""),
        "iteration": str(event.get("iteration") or ""),
    }
    if event["type"] not in accepts:
        observability.EVENTS.labels(phase, "", "refused").inc()
        handled = ", ".join(sorted(accepts))
        return (
            f"{phase} does not handle events of type {event['type']!r}: only {handled}",
            400,
            TEXT,
        )
    with observability.event_context(**context), observability.LATENCY.labels(phase).time():
        return _handle(event, handler, phase)


def _handle(event: CloudEvent, handler: Handler, phase: str) -> Response:
    outcome = observability.EVENTS.labels
    try:
        reply = handler(event, runtime())
    except BadEvent as error:
        log.warning("refused the event: %s", error)
        outcome(phase, event["type"], "refused").inc()
        return str(error), 400, TEXT
    except Exception:
        log.exception("failed; the broker will retry")
        outcome(phase, event["type"], "failed").inc()
        return "", 500, {}
    if reply is None:
        log.info("handled, nothing to reply")
        outcome(phase, event["type"], "accepted").inc()
        return "", 202, {}
    log.info("handled, replying %s", reply["type"])
    outcome(phase, event["type"], "replied").inc()
    _count(reply)
    headers, body = wire.write(reply)
    return body, 200, {key: str(value) for key, value in headers.items()}


def _count(reply: CloudEvent) -> None:
    data = reply.data if isinstance(reply.data, dict) else {}
    if reply["type"] == EventType.WEIGHTS_APPLIED:
        observability.ITERATIONS.inc()
    elif reply["type"] == EventType.ANALYSIS_COMPLETED:
        observability.DECISIONS.labels("continue").inc()
    elif reply["type"] == EventType.CONCLUDED:
        observability.DECISIONS.labels(str(data.get("outcome"))).inc()


def _probe(path: str) -> Response:
    if path in ("/healthz", "/livez"):
        return "ok", 200, TEXT
    if path == "/readyz":
        try:
            runtime()
        except Exception as error:  # the store is misconfigured or unreachable
            log.warning("not ready: %s", error)
            return f"not ready: {error}", 503, TEXT
        return "ok", 200, TEXT
    if path == "/metrics":
        return generate_latest(), 200, {"Content-Type": CONTENT_TYPE_LATEST}
    return "not found", 404, TEXT
