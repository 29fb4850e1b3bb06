"""Which failed deliveries are retried and how long to wait, exactly as Knative's dispatcher does.

Retries (`pkg/kncloudevents/retries.go`, `SelectiveRetry`): transport errors (no response) and the
status codes 5xx, 404, 408, 409 and 429; nothing else. Waits come from go-retryablehttp, which calls
the backoff with a zero-based count of the retries already made, so before retry k (1-based):
exponential waits `delay·2^(k-1)` (d, 2d, 4d…) and linear waits `delay·(k-1)` (0, d, 2d…). Without
both a policy and a delay every wait is zero. There is no cap.
"""

from __future__ import annotations

from dataclasses import dataclass

RETRIED_4XX = frozenset({404, 408, 409, 429})
TRANSPORT_ERROR = None  # a failed attempt that got no HTTP response


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

    def wait_before(self, retry_number: int) -> float:
        """Seconds to wait before retry `retry_number` (1 = the first retry)."""
        if self.policy is None or self.delay_ns is None:
            return 0.0
        done = retry_number - 1  # go-retryablehttp's attemptNum
        factor = 2**done if self.policy == "exponential" else done
        return self.delay_ns * factor / 1_000_000_000

    def waits(self) -> list[float]:
        return [self.wait_before(k) for k in range(1, self.retry + 1)]
