"""What a function needs from its environment, read once per process.

`ITER8_STORE` chooses the store: `sqlite:<path>` (the embedded default) or `kubernetes` (in the
cluster, or the cluster of `KUBECONFIG`). `K_SINK` is the broker URL a SinkBinding injects; only
the analyze tick POSTs there. `ITER8_WATCH_NAMESPACE`, if set, limits every function to the
experiments of that namespace (as an ApiServerSource limited to one namespace): the tick lists
that namespace only, and an event about an experiment elsewhere is accepted and left alone.
Tests and `iter8 run` hand a Runtime in with `use_runtime`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from iter8.lifecycle.tick import Timeouts
from iter8.store.base import Store


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    store: Store
    sink: str | None = None  # the broker's ingress URL (K_SINK)
    now: Callable[[], datetime] = field(default=_utc_now)
    seed: int | None = None  # fixes the analysis' randomness (tests, reproducible runs)
    timeouts: Timeouts = field(default_factory=Timeouts)  # when a claimed step counts as lost
    namespace: str | None = None  # the experiments acted on: this namespace only, or all (None)

    def watches(self, namespace: str) -> bool:
        return self.namespace is None or namespace == self.namespace


_current: Runtime | None = None


def use_runtime(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def runtime() -> Runtime:
    global _current
    if _current is None:
        _current = from_environment()
    return _current


def from_environment() -> Runtime:
    spec = os.environ.get("ITER8_STORE", "sqlite:iter8.db")
    store: Store
    if spec == "kubernetes":
        from iter8.store.kubernetes import KubernetesStore

        store = KubernetesStore.from_kubeconfig(os.environ.get("KUBECONFIG"))
    elif spec.startswith("sqlite:"):
        from iter8.store.sqlite import SqliteStore

        store = SqliteStore(spec.removeprefix("sqlite:"))
    else:
        raise ValueError(f"ITER8_STORE={spec!r}: use sqlite:<path> or kubernetes")
    seed = os.environ.get("ITER8_SEED")
    claim = float(os.environ.get("ITER8_CLAIM_TIMEOUT_SECONDS", "120"))
    return Runtime(
        store=store,
        sink=os.environ.get("K_SINK"),
        seed=int(seed) if seed else None,
        timeouts=Timeouts(claim=timedelta(seconds=claim)),
        namespace=os.environ.get("ITER8_WATCH_NAMESPACE") or None,
    )
