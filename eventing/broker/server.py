"""The embedded broker on a real HTTP server bound to 127.0.0.1, run on a background thread.

The server is the standard library's threaded HTTP/1.1 server (see `httpserver` for why);
deliveries go out through `http.client` from the thread that received the event (`sender`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from eventing.broker import ttl
from eventing.broker.clock import Clock
from eventing.broker.config import Config, load, read_files
from eventing.broker.engine import Engine
from eventing.broker.httpserver import IngressServer
from eventing.broker.ingress import Ingress
from eventing.broker.limits import Limits
from eventing.broker.resolve import Resolver
from eventing.broker.sender import Sender
from iter8.manifests import Document

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
ANSWER_SECONDS = 1.0  # after the drain, for requests cut short to be answered
CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
DEFAULT_MANIFESTS = (CONFIG_DIR / "broker.yaml", CONFIG_DIR / "triggers.yaml")


class EmbeddedBroker:
    """Brokers and Triggers from manifests, delivering to subscribers resolved at startup.

    `resolve_subscriber` maps a Trigger's `subscriber.ref` (and `deadLetterSink.ref`) to a URL,
    e.g. `SubscriberMap({"iter8-init": "http://127.0.0.1:8081", ...})`; `uri` destinations are used
    as they are. Every problem (bad manifest, unresolvable ref) is raised at once as ConfigError.
    """

    def __init__(
        self,
        manifests: Config | Iterable[Document | Mapping[str, Any]],
        resolve_subscriber: Resolver,
        *,
        async_mode: bool = False,
        workers: int = 8,
        clock: Clock | None = None,
        max_ttl: int = ttl.MAX_TTL,
        sender: Sender | None = None,
        limits: Limits | None = None,
    ) -> None:
        config = manifests if isinstance(manifests, Config) else load(manifests)
        self.limits = limits or Limits()
        self.engine = Engine(
            config,
            resolve_subscriber,
            clock=clock,
            async_mode=async_mode,
            workers=workers,
            max_ttl=max_ttl,
            sender=sender,
            max_queue=self.limits.max_queue,
        )
        self.ingress = Ingress(self.engine)

    @classmethod
    def from_files(
        cls, paths: Iterable[str | Path], resolve_subscriber: Resolver, **options: Any
    ) -> EmbeddedBroker:
        return cls(read_files(paths), resolve_subscriber, **options)

    def serve(self, port: int = 0, host: str = HOST) -> RunningBroker:
        """Start serving on a background thread; port 0 picks a free one."""
        return RunningBroker(self, IngressServer((host, port), self.ingress, self.limits))


class RunningBroker:
    """A serving broker: its URLs, its counters, and `stop()` (also a context manager)."""

    def __init__(self, broker: EmbeddedBroker, server: IngressServer) -> None:
        self.broker, self._server = broker, server
        host, self.port = server.server_address[:2]
        self.url = f"http://{host}:{self.port}"
        self.engine = broker.engine
        self.engine.base_url = self.url
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="broker-ingress",
            daemon=True,
        )
        self._thread.start()

    def broker_url(self, namespace: str, name: str) -> str:
        """The ingress address of one broker (what `K_SINK` would hold)."""
        return self.engine.ingress_url((namespace, name))

    @property
    def brokers(self) -> list[str]:
        return [self.broker_url(b.namespace, b.name) for b in self.engine.config.brokers]

    @property
    def stats(self) -> dict[str, int]:
        return self.engine.stats.snapshot()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """True once every delivery under way is done (either mode); False if `timeout` ran out."""
        return self.engine.wait_idle(timeout)

    def stop(self, drain_seconds: float | None = None) -> None:
        """Stop accepting; for up to `drain_seconds` (`limits.drain_seconds` by default), let the
        requests under way be answered and (async) the queue be delivered; then see
        `Engine.close`, and end."""
        drain = self.broker.limits.drain_seconds if drain_seconds is None else drain_seconds
        deadline = time.monotonic() + drain
        self._server.stop_accepting()
        self._server.wait_closed(drain)
        self.engine.close(max(0.0, deadline - time.monotonic()))
        self._server.wait_closed(ANSWER_SECONDS)  # the answers of what was cut short
        self._server.stop()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
