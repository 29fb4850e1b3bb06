"""The least a Knative-correct function does, on functions-framework alone: read a binary-mode
CloudEvent, answer 200 with one. `bench.iteration` starts it as functions-framework's own
command does (`python -m functions_framework --target reply --source THIS_FILE`) beside
`iter8 serve analyze`, start by start: its cold start and its HTTP overhead are the machine's
floor for any function served this way, measured in the same run, so that our figures can be
read as ratios to it on a machine of any speed (shared/reference/knative.md measured this
floor at 286 ms to the first 2xx on its 2-vCPU VM)."""

from __future__ import annotations

import functions_framework
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http
from flask import Request

Response = tuple[bytes, int, dict[str, str]]


@functions_framework.http
def reply(request: Request) -> Response:
    return answer(request.headers, request.get_data())


def answer(headers: object, body: bytes) -> Response:
    """The function's work, also called in-process by the bench."""
    event = from_http(headers, body)  # type: ignore[arg-type]
    echo = CloudEvent({"type": "bench.echo", "source": "bench/bare"}, {"id": event["id"]})
    out_headers, out_body = to_binary(echo)
    return out_body, 200, {key: str(value) for key, value in out_headers.items()}
