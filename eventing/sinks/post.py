"""One bounded, retried POST to a notifier's downstream.

Bounded because a notification is worth a few seconds at most; retried because webhooks and
Slack fail transiently (429, 5xx, resets). Messages name only the URL's scheme and host: Slack
and many webhooks put their secret in the path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

import httpx

from eventing.sinks.notifier import DeliveryFailed
from iter8.security.redact import origin

# httpx logs each request's whole URL at INFO, and a notifier's URL holds its secret.
logging.getLogger("httpx").setLevel(logging.WARNING)


class Poster:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        attempts: int = 3,
        backoff: float = 0.1,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.attempts = attempts
        self.backoff = backoff
        self._client = httpx.Client(timeout=timeout, transport=transport)
        self._closed = threading.Event()

    def post(self, body: bytes, headers: Mapping[str, str]) -> None:
        problem = ""
        for attempt in range(self.attempts):
            if attempt and self._closed.wait(self.backoff * 2 ** (attempt - 1)):
                break
            try:
                response = self._client.post(self.url, content=body, headers=dict(headers))
            except httpx.HTTPError as error:
                problem = type(error).__name__  # its text may quote the URL
                continue
            if response.is_success:
                return
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code not in (408, 429):
                break  # the downstream refuses this request: asking again will not help
        raise DeliveryFailed(f"POST {origin(self.url)} failed: {problem or 'closed'}")

    def close(self) -> None:
        self._closed.set()
        self._client.close()
