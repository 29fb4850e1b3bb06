"""What operators see of a function: JSON log lines that name the experiment, iteration and event,
and Prometheus metrics on `/metrics` (events by type and outcome, handler latency, iterations,
decisions).

The context (event id, experiment, iteration) lives in context variables set once per request,
so every log line of that request carries it without the handlers passing it around.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from prometheus_client import Counter, Histogram

_event: ContextVar[dict[str, str]] = ContextVar("iter8_event", default={})  # noqa: B039 - read-only

EVENTS = Counter(
    "iter8_events_total",
    "CloudEvents handled, by phase, type and outcome",
    ["phase", "type", "outcome"],
)
LATENCY = Histogram("iter8_handler_seconds", "Time to handle one event", ["phase"])
ITERATIONS = Counter("iter8_iterations_total", "Iterations completed (weights applied)")
DECISIONS = Counter("iter8_decisions_total", "Analysis decisions, by action", ["action"])


@contextmanager
def event_context(**fields: str) -> Iterator[None]:
    token = _event.set({k: v for k, v in fields.items() if v})
    try:
        yield
    finally:
        _event.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_event.get(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging() -> None:
    """JSON lines on stderr (`ITER8_LOG_FORMAT=text` for plain text); level from `ITER8_LOG_LEVEL`.

    A record no longer gathers what neither format prints (the logging HOWTO's "Optimization":
    the caller's file and line, found by walking the stack, and the thread's and process's
    names): one line per event, and the walk was a quarter of its cost (timed alone)."""
    logging._srcfile = None  # type: ignore[attr-defined]  # documented: no stack walk per record
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    if os.environ.get("ITER8_LOG_FORMAT", "json") == "json":
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("ITER8_LOG_LEVEL", "INFO").upper())
    # httpx logs each request's whole URL at INFO; URLs may carry secrets (a webhook's path, an
    # API key in a metric's query string). Its warnings and errors still come through.
    logging.getLogger("httpx").setLevel(logging.WARNING)
