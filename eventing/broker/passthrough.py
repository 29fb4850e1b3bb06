"""The HTTP headers Knative carries across a hop (`pkg/utils/headers.go` `PassThroughHeaders`,
1.11): tracing and Knative's own, never arbitrary ones, and never `ce-` headers (those are the
event). Checked against Knative's own broker by `tests/knative/test_delivery.py`: `k-eventing-*`
and `Retry-After` from a producer do not reach the subscriber."""

from __future__ import annotations

from eventing.broker.wire import Headers

FORWARDED = frozenset({"x-request-id"})
PREFIXES = ("knative-", "x-b3-")


def passthrough(headers: Headers) -> dict[str, str]:
    return {
        name: value
        for name, value in headers.items()
        if name in FORWARDED or name.startswith(PREFIXES)
    }
