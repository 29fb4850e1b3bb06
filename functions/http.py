"""The Knative-correct shape of a function: one CloudEvent in, one CloudEvent or nothing out.

functions-framework's `cloud_event` handlers always answer `200 OK` with a text body, which a
Knative broker counts as a failed delivery (knative.md §A3), so each phase is an `http` function
wrapped by `serve`: 200 with a binary-mode CloudEvent (the reply), 202 with an empty body, 400
for an event that is wrong and will stay wrong, 500 for one worth retrying.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cloudevents.conversion import to_binary
from cloudevents.exceptions import GenericException
from cloudevents.http import CloudEvent, from_http
from flask import Request

from functions.runtime import Runtime, runtime
from iter8.events import BadEvent

Handler = Callable[[CloudEvent, Runtime], CloudEvent | None]
Response = tuple[bytes | str, int, dict[str, str]]

log = logging.getLogger("iter8.functions")


def serve(request: Request, handler: Handler) -> Response:
    if request.method != "POST":
        return "", 405, {"Allow": "POST"}
    try:
        event = from_http(dict(request.headers), request.get_data())
    except (GenericException, ValueError, TypeError, UnicodeDecodeError) as error:
        return f"not a CloudEvent: {error}", 400, {"Content-Type": "text/plain"}
    try:
        reply = handler(event, runtime())
    except BadEvent as error:
        log.warning("refused event %s (%s): %s", event["id"], event["type"], error)
        return str(error), 400, {"Content-Type": "text/plain"}
    except Exception:
        log.exception("failed on event %s (%s); the broker will retry", event["id"], event["type"])
        return "", 500, {}
    if reply is None:
        return "", 202, {}
    headers, body = to_binary(reply)
    return body, 200, {key: str(value) for key, value in headers.items()}
