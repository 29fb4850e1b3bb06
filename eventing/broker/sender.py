"""The one HTTP client the broker delivers with: a pooled, thread-safe `httpx.Client`."""

from __future__ import annotations

import socket

import httpx

from eventing.broker.wire import header_map

DEFAULT_TIMEOUT = 900.0
NO_DELAY = [
    (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
]  # the InMemoryChannel's fan-out gives up after 15 minutes


class Sender:
    def __init__(self, pool_size: int = 100) -> None:
        limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
        # No Nagle: httpx writes headers and body separately, which would otherwise wait for
        # delayed ACKs. trust_env=False: never a proxy from the environment for loopback.
        transport = httpx.HTTPTransport(limits=limits, socket_options=NO_DELAY)
        self._client = httpx.Client(transport=transport, trust_env=False, timeout=DEFAULT_TIMEOUT)

    def post(
        self, url: str, headers: list[tuple[str, str]], body: bytes, timeout: float | None
    ) -> tuple[int, dict[str, str], bytes]:
        """Status, lower-cased headers and body; raises on transport errors."""
        encoded = [(name.encode("ascii"), value.encode()) for name, value in headers]
        response = self._client.post(
            url, content=body, headers=encoded, timeout=timeout or DEFAULT_TIMEOUT
        )
        return response.status_code, header_map(response.headers.multi_items()), response.content

    def close(self) -> None:
        self._client.close()
