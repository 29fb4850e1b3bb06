"""The webhook notifier: the event as one JSON document, optionally signed.

The body is the event in CloudEvents' JSON format (attributes and `data` side by side), sent as
`application/json` so that any webhook receiver can read it. With a secret, the header
`X-Iter8-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact body bytes, which the receiver
recomputes to trust the sender (the scheme GitHub uses for its webhooks).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from cloudevents.http import CloudEvent

from eventing.sinks.post import Poster
from iter8.security.redact import origin

SIGNATURE_HEADER = "X-Iter8-Signature"


def document(event: CloudEvent) -> dict[str, Any]:
    """CloudEvents' JSON format of `event`: binary data goes in `data_base64`."""
    doc: dict[str, Any] = dict(event.get_attributes())
    if isinstance(event.data, bytes):
        doc["data_base64"] = base64.b64encode(event.data).decode()
    elif event.data is not None:
        doc["data"] = event.data
    return doc


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """POSTs each event to `url`. Set up by `ITER8_WEBHOOK_URL` and `ITER8_WEBHOOK_SECRET`."""

    name: ClassVar[str] = "webhook"

    def __init__(
        self,
        url: str,
        *,
        secret: str | bytes | None = None,
        timeout: float = 2.0,
        attempts: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self._poster = Poster(url, timeout=timeout, attempts=attempts, transport=transport)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookNotifier | None:
        url = env.get("ITER8_WEBHOOK_URL")
        return cls(url, secret=env.get("ITER8_WEBHOOK_SECRET") or None) if url else None

    def __repr__(self) -> str:  # never the secret, nor the URL's path
        return f"WebhookNotifier({origin(self._poster.url)}, signed={self._secret is not None})"

    def notify(self, event: CloudEvent) -> None:
        body = json.dumps(document(event), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "iter8-notifier",
            "X-Iter8-Event": str(event["type"]),
            "X-Iter8-Delivery": str(event["id"]),
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        self._poster.post(body, headers)

    def close(self) -> None:
        self._poster.close()


NOTIFIER = WebhookNotifier
