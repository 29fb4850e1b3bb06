"""The embedded broker: Knative's MT channel-based broker (InMemoryChannel) on 127.0.0.1.

    from eventing.broker import DEFAULT_MANIFESTS, EmbeddedBroker, SubscriberMap

    subscribers = SubscriberMap({"iter8-init": "http://127.0.0.1:8081", ...})
    with EmbeddedBroker.from_files(DEFAULT_MANIFESTS, subscribers).serve() as running:
        sink = running.broker_url("iter8-system", "iter8")  # what K_SINK holds

Pure rules live in their own modules (`event`, `wire`, `ttl`, `filters`, `backoff`, `durations`,
`outcome`, `deadletter`, `config`); `dispatch` and `engine` deliver; `ingress` and `server` are
the HTTP shell.
"""

from eventing.broker.clock import Clock, RecordingClock, SystemClock
from eventing.broker.config import Config, ConfigError, load, read_files
from eventing.broker.limits import Limits
from eventing.broker.resolve import SubscriberMap, UnresolvedError
from eventing.broker.server import DEFAULT_MANIFESTS, EmbeddedBroker, RunningBroker

__all__ = [
    "DEFAULT_MANIFESTS",
    "Clock",
    "Config",
    "ConfigError",
    "EmbeddedBroker",
    "Limits",
    "RecordingClock",
    "RunningBroker",
    "SubscriberMap",
    "SystemClock",
    "UnresolvedError",
    "load",
    "read_files",
]
