"""One bounded, retried POST to a notifier's downstream.

Bounded because a notification is worth a few seconds at most; retried because webhooks and
Slack fail transiently (429, 5xx, resets). Messages name only the URL's scheme and host: Slack
and many webhooks put their secret in the path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from eventing.sinks.notifier import DeliveryFailed

# httpx logs each request's whole URL at INFO, and a notifier's URL holds its secret.
logging.getLogger("httpx").setLevel(logging.WARNING)


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


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
        raise DeliveryFailed(f"POST {host_of(self.url)} failed: {problem or 'closed'}")

    def close(self) -> None:
        self._closed.set()
        self._client.close()
