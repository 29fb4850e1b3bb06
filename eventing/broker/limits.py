"""How much the broker takes from outside, and how long it waits: one place, each value with why.

Knative's ingress (Go's `net/http` as `pkg/kncloudevents/message_receiver.go` sets it up) reads a
whole request within `ReadTimeout` = 10 s, keeps an idle connection as long (Go's `IdleTimeout`
falls back to `ReadTimeout`), bounds the head at Go's 1 MiB (`DefaultMaxHeaderBytes`) and drains
for at most a minute on shutdown (`DefaultShutdownTimeout`); those are copied. It has no body
limit, no connection cap and no queue (the channel is in memory and synchronous); those are ours.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_HEAD = 1 << 20  # request line and headers together (Go's DefaultMaxHeaderBytes) → 431


@dataclass(frozen=True)
class Limits:
    # 1 MiB: what the Kafka broker takes (Kafka's default message.max.bytes), 16 times the 64 KiB
    # the CloudEvents spec asks every intermediary to forward; Iter8's events are a few KiB.
    max_body: int = 1 << 20
    # Connections served at once (one thread each); more wait in the listen backlog. With the
    # deliveries each may hold, well under the usual 1,024 descriptors.
    max_connections: int = 256
    # Deliveries queued or under way in async mode; past it the ingress answers 503 (Retry-After),
    # which every Knative source retries. At ~2 KiB an event, ~20 MB at most.
    max_queue: int = 10_000
    # On stop: how long deliveries under way (and, in async mode, queued) may still take before
    # what is left is dead-lettered or, without a sink, logged one by one.
    drain_seconds: float = 60.0  # Knative's DefaultShutdownTimeout
    # Seconds for a request's line, headers and body, from its first byte: Knative's ReadTimeout.
    request_seconds: float = 10.0
    # Seconds a kept-alive connection may wait for its next request (Go: IdleTimeout, which
    # falls back to ReadTimeout when unset, as in Knative).
    idle_seconds: float = 10.0

    def __post_init__(self) -> None:
        for name in ("max_body", "max_connections", "max_queue"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("request_seconds", "idle_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.drain_seconds < 0:
            raise ValueError("drain_seconds must not be negative")
