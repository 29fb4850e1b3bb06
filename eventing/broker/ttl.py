"""Loop protection and arrival stamping, the two attributes Knative's ingress adds to every event.

`knativebrokerttl` bounds how often an event can bounce through the broker as replies: a new event
starts at `MAX_TTL`, each pass through the ingress takes one off, and at zero the event is refused
(400). The filter strips the TTL before delivery and puts the same value on the subscriber's reply,
so only replies spend it (`pkg/broker/ttl.go`, `filter_handler.go`).
"""

from __future__ import annotations

import re
from datetime import datetime

from eventing.broker.event import Event, format_timestamp

TTL = "knativebrokerttl"
ARRIVAL_TIME = "knativearrivaltime"
MAX_TTL = 255  # MAX_TTL of cmd/broker/ingress

_INTEGER = re.compile(r"[+-]?\d+")
_INT32_MAX = 2**31 - 1


def next_ttl(current: str | None, max_ttl: int = MAX_TTL) -> int:
    """The TTL after one more pass: a missing or non-integer value restarts at `max_ttl`."""
    if current is None or not _INTEGER.fullmatch(current.strip()):
        return max_ttl
    value = int(current)
    if abs(value) > _INT32_MAX:
        return max_ttl
    return max(value - 1, 0)


def admit(event: Event, now: datetime, max_ttl: int = MAX_TTL) -> Event | None:
    """The event as the ingress forwards it, or None when its TTL is spent (answer 400)."""
    ttl = next_ttl(event.get(TTL), max_ttl)
    if ttl <= 0:
        return None
    return event.replace(**{ARRIVAL_TIME: format_timestamp(now), TTL: str(ttl)})


def strip(event: Event) -> tuple[Event, str | None]:
    """The event as a subscriber gets it (no TTL), and the TTL to put on its reply."""
    return event.replace(**{TTL: None}), event.get(TTL)


def carry(reply: Event, ttl: str | None) -> Event:
    return reply.replace(**{TTL: ttl})
