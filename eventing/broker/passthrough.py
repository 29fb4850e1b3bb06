"""The HTTP headers Knative carries across a hop (`pkg/utils/headers.go` `PassThroughHeaders`):
tracing and Knative's own, never arbitrary ones, and never `ce-` headers (those are the event)."""

from __future__ import annotations

from eventing.broker.wire import Headers

FORWARDED = frozenset({"x-request-id", "retry-after"})
PREFIXES = ("knative-", "k-eventing-", "x-b3-")


def passthrough(headers: Headers) -> dict[str, str]:
    return {
        name: value
        for name, value in headers.items()
        if name in FORWARDED or name.startswith(PREFIXES)
    }
