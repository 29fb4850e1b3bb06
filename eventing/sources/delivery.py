"""How a source hands an event to its sink: the retry of Knative's source adapters.

Knative's adapters send through the CloudEvents Go SDK with an exponential backoff of 50 ms and
5 retries (50, 100, 200, 400, 800 ms). The SDK retries a transport error and the statuses 404,
413, 425, 429, 503 and 504 only; any other answer is final. An event still undelivered after
that is logged and dropped, as the adapters drop it: a source has no dead-letter sink.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

RETRIABLE = frozenset({404, 413, 425, 429, 503, 504})

log = logging.getLogger("iter8.eventing.sources")


@dataclass(frozen=True)
class Backoff:
    """Delay before retry `n` (from 0) is `period · 2ⁿ`; at most `retries` retries."""

    period: float = 0.05
    retries: int = 5

    def delay(self, retry: int) -> float:
        return self.period * 2**retry


KNATIVE_BACKOFF = Backoff()


class Sender:
    """POSTs events to one sink. `interrupt()` (from any thread) cuts short the waits between
    retries, so that stopping a source never waits out a backoff."""

    def __init__(
        self,
        sink: str,
        *,
        backoff: Backoff = KNATIVE_BACKOFF,
        timeout: float = 10.0,
        overrides: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.sink = sink
        self._backoff = backoff
        self._overrides = dict(overrides or {})  # Knative's ceOverrides.extensions
        self._client = httpx.Client(timeout=timeout, transport=transport)
        self._interrupted = threading.Event()

    def send(self, event: CloudEvent) -> bool:
        """True once the sink accepted the event (2xx); False when it is dropped."""
        for key, value in self._overrides.items():
            event[key] = value
        headers, body = to_binary(event)
        attempt, outcome = 0, ""
        while True:
            try:
                response = self._client.post(self.sink, headers=headers, content=body)
            except httpx.HTTPError as error:
                outcome, retriable = f"{type(error).__name__}: {error}", True
            else:
                if response.is_success:
                    return True
                outcome = f"HTTP {response.status_code}"
                retriable = response.status_code in RETRIABLE
            if not retriable or attempt >= self._backoff.retries:
                break
            if self._interrupted.wait(self._backoff.delay(attempt)):
                break
            attempt += 1
        log.warning(
            "dropped %s event %s after %d attempt(s): %s",
            event["type"],
            event["id"],
            attempt + 1,
            outcome,
        )
        return False

    def interrupt(self) -> None:
        self._interrupted.set()

    def close(self) -> None:
        self._client.close()
