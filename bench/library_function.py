"""`bench/bare_function.py` plus the libraries the analyze function cannot do without, loaded
the way analyze loads them and touched once per event: numpy, scipy.special (the bayesian
algorithm's ufuncs, through `iter8.analytics.bayes.special`, which imports nothing else of
ours), pydantic (a model validating the event's data) and httpx (the metric fetches' client).
`bench.iteration` starts it beside `iter8 serve analyze`, start by start, as functions-framework's
own command starts a function: its cold start is what any function on these libraries pays on
this machine before a line of its own code runs, in the same run as ours."""

from __future__ import annotations

import functions_framework
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http
from flask import Request

from functions.startup import without_what_no_event_uses

with without_what_no_event_uses():  # as analyze's server loads them (one BLAS thread, no CLI)
    import httpx
    import numpy as np
    from pydantic import BaseModel

    from iter8.analytics.bayes.special import ndtri

Response = tuple[bytes, int, dict[str, str]]
CLIENT = httpx.Client()  # one per process, as the fetches keep one


class Due(BaseModel):
    namespace: str
    name: str
    uid: str
    iteration: int


@functions_framework.http
def reply(request: Request) -> Response:
    return answer(request.headers, request.get_data())


def answer(headers: object, body: bytes) -> Response:
    """The function's work, also called in-process by the bench."""
    event = from_http(headers, body)  # type: ignore[arg-type]
    due = Due.model_validate(event.data)
    bound = float(ndtri(np.array([0.975]))[0])
    echo = CloudEvent(
        {"type": "bench.echo", "source": "bench/libraries"},
        {"id": event["id"], "iteration": due.iteration, "z": bound},
    )
    out_headers, out_body = to_binary(echo)
    return out_body, 200, {key: str(value) for key, value in out_headers.items()}
