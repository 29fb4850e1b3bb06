"""What one delivery attempt came to, judged as Knative's filter and dispatcher judge it.

A subscriber's answer (`filter_handler.go` `writeResponse`, `event_dispatcher.go`):
non-2xx is a failure with that status; 2xx with an empty body is success; 2xx carrying a valid
CloudEvent is success with a reply; 2xx with any other body, or a structured event that cannot be
read, is a failure the filter reports as 502 Bad Gateway (so it is retried and dead-lettered).
A binary-mode reply that reads but is not valid (no `id`, a bad `source`…) is delivered: the
filter does not validate it, the ingress refuses it (400, not retried), and the original event is
dead-lettered with the broker as `knativeerrordest` (seen on Knative 1.11,
`tests/knative/test_delivery.py`); the subscriber is not called again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eventing.broker.backoff import TRANSPORT_ERROR, is_retryable, is_success
from eventing.broker.event import Event, InvalidEvent
from eventing.broker.wire import Headers, decode, is_binary, is_cloudevent

ERROR_DATA_MAX = 1024  # KnativeErrorDataExtensionMaxLength
BAD_REQUEST, BAD_GATEWAY = 400, 502


@dataclass(frozen=True)
class Outcome:
    status: int | None  # None: no HTTP response (connection refused, timeout…)
    ok: bool
    body: bytes = b""  # the failing response's body, or the transport error's text
    reply: Event | None = None
    headers: Headers = field(default_factory=dict)
    invalid_reply: str | None = None  # why a binary-mode reply the ingress will refuse is invalid

    @property
    def retryable(self) -> bool:
        return not self.ok and is_retryable(self.status)

    @property
    def error_code(self) -> int:
        """`knativeerrorcode`: the last status, 500 when nothing answered."""
        return 500 if self.status is TRANSPORT_ERROR else int(self.status)


def transport_failure(error: Exception) -> Outcome:
    return Outcome(TRANSPORT_ERROR, False, f"dispatch error: {error}".encode())


def from_subscriber(status: int, headers: Headers, body: bytes) -> Outcome:
    if not is_success(status):
        return Outcome(status, False, body[:ERROR_DATA_MAX], headers=headers)
    if not is_cloudevent(headers):
        if body:
            return Outcome(BAD_GATEWAY, False, body[:ERROR_DATA_MAX], headers=headers)
        return Outcome(status, True, headers=headers)
    try:
        reply = decode(headers, body)
    except InvalidEvent as error:
        if is_binary(headers):
            return Outcome(status, True, headers=headers, invalid_reply=str(error))
        return Outcome(BAD_GATEWAY, False, str(error).encode()[:ERROR_DATA_MAX], headers=headers)
    return Outcome(status, True, reply=reply, headers=headers)


def from_sink(status: int, headers: Headers, body: bytes) -> Outcome:
    """A dead-letter sink or the ingress taking a reply: any 2xx will do, the body is ignored."""
    if is_success(status):
        return Outcome(status, True, headers=headers)
    return Outcome(status, False, body[:ERROR_DATA_MAX], headers=headers)
