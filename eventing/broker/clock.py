"""Time as the broker uses it: the arrival stamp and the waits between retries. Injected, so tests
check Knative's backoff arithmetic without waiting for it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall time; `interrupt()` cuts every current and future wait short (used on stop)."""

    def __init__(self) -> None:
        self._interrupted = threading.Event()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._interrupted.wait(seconds)

    def interrupt(self) -> None:
        self._interrupted.set()


class RecordingClock:
    """A clock for tests: sleeping returns at once, advances `now` and is recorded in `sleeps`."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += timedelta(seconds=seconds)
