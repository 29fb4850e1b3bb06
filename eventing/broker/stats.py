"""Counters of what the broker did, for tests, benchmarks and progress displays."""

from __future__ import annotations

import threading
from collections import Counter


class Stats:
    """Thread-safe counts: received, delivered, replies, retries, dead_lettered, failed,
    ttl_dropped, refused (503: the async queue was full)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]
