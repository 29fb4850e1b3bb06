"""Which failed deliveries are retried and how long to wait, exactly as Knative's dispatcher does.

Retries (`pkg/kncloudevents/retries.go`, `SelectiveRetry`): transport errors (no response) and the
status codes 5xx, 404, 408, 409 and 429; nothing else. Waits come from go-retryablehttp, which calls
the backoff with a zero-based count of the retries already made, so before retry k (1-based):
exponential waits `delay·2^(k-1)` (d, 2d, 4d…) and linear waits `delay·(k-1)` (0, d, 2d…). Without
both a policy and a delay every wait is zero. There is no cap.

With `delivery.retryAfterMax` (`message_sender_new.go` `generateBackoffFn`; the field needs the
`delivery-retryafter` feature flag on a cluster, the dispatcher honours it whenever it is set), a
429 or 503 answer's `Retry-After` (seconds, or an HTTP date) is honoured up to that maximum: the
wait is the larger of it and the backoff. Without the field `Retry-After` is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

RETRIED_4XX = frozenset({404, 408, 409, 429})
RETRY_AFTER_STATUSES = frozenset({429, 503})
TRANSPORT_ERROR = None  # a failed attempt that got no HTTP response
_INT64_MAX = 2**63 - 1
_INTEGER = re.compile(r"[+-]?[0-9]+")


def is_retryable(status: int | None) -> bool:
    if status is TRANSPORT_ERROR:
        return True
    return status >= 500 or status in RETRIED_4XX


def is_success(status: int) -> bool:
    return 200 <= status < 300


@dataclass(frozen=True)
class RetryPolicy:
    retry: int = 0  # extra attempts: total attempts = retry + 1
    policy: str | None = None  # "linear" | "exponential"
    delay_ns: int | None = None  # Go's time.Duration, so the arithmetic is exact
    retry_after_max_ns: int | None = None  # delivery.retryAfterMax; None: ignore Retry-After

    def wait_before(
        self, retry_number: int, status: int | None = None, retry_after: float | None = None
    ) -> float:
        """Seconds to wait before retry `retry_number` (1 = the first retry), after an attempt
        answered `status` with `retry_after` seconds in its Retry-After header."""
        backoff = self._backoff(retry_number)
        if self.retry_after_max_ns is None or status not in RETRY_AFTER_STATUSES:
            return backoff
        honoured = min(retry_after or 0.0, self.retry_after_max_ns / 1_000_000_000)
        return max(backoff, honoured)

    def _backoff(self, retry_number: int) -> float:
        if self.policy is None or self.delay_ns is None:
            return 0.0
        done = retry_number - 1  # go-retryablehttp's attemptNum
        factor = 2**done if self.policy == "exponential" else done
        return self.delay_ns * factor / 1_000_000_000

    def waits(self) -> list[float]:
        return [self.wait_before(k) for k in range(1, self.retry + 1)]


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header as Go's `parseRetryAfterDuration` reads it: whole seconds (a
    64-bit integer, sign allowed), else an HTTP date (seconds until it); None if neither."""
    if not value:
        return None
    if _INTEGER.fullmatch(value):
        number = int(value)  # past Go's Duration range: ignored (Go's arithmetic would wrap)
        return float(number) if abs(number) <= _INT64_MAX // 1_000_000_000 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return (when - now).total_seconds()
