"""The console notifier: one human-readable line per event, to a stream or to the log."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from typing import ClassVar, TextIO

from cloudevents.http import CloudEvent

from eventing.sinks.summary import summarize

log = logging.getLogger("iter8.notifications")


class ConsoleNotifier:
    """Writes to `stream`, or logs at INFO on `iter8.notifications` when `stream` is None.
    Set up by `ITER8_CONSOLE=stdout|stderr|log`."""

    name: ClassVar[str] = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._lock = threading.Lock()  # whole lines, even from several threads

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ConsoleNotifier | None:
        where = env.get("ITER8_CONSOLE", "").lower()
        if where in ("stdout", "stderr"):
            return cls(sys.stdout if where == "stdout" else sys.stderr)
        return cls() if where == "log" else None

    def notify(self, event: CloudEvent) -> None:
        line = summarize(event).line()
        if self.stream is None:
            log.info("%s", line)
            return
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        pass


NOTIFIER = ConsoleNotifier
