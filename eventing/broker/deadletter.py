"""The extensions a dead-lettered event carries (`pkg/kncloudevents/attributes/knative_error.go`).

`knativeerrordata` is the failing response's body, base64 (standard alphabet) and cut to 1024
characters *after* encoding, as Knative's dispatcher does (its docs still call it the plain body).
"""

from __future__ import annotations

import base64

from eventing.broker.event import Event
from eventing.broker.outcome import ERROR_DATA_MAX, Outcome

ERROR_DEST = "knativeerrordest"
ERROR_CODE = "knativeerrorcode"
ERROR_DATA = "knativeerrordata"


def error_data(body: bytes) -> str:
    return base64.b64encode(body).decode()[:ERROR_DATA_MAX]


def dead_letter(original: Event, destination: str, outcome: Outcome) -> Event:
    """The original event, marked with where and how its delivery failed."""
    return original.replace(
        **{
            ERROR_DEST: destination,
            ERROR_CODE: str(outcome.error_code),
            ERROR_DATA: error_data(outcome.body),
        }
    )
