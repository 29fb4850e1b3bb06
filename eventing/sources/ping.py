"""A PingSource with second resolution: the embedded stack's tick (knative.md §A5).

Each tick is one `dev.knative.sources.ping` event, `source`
`/apis/v1/namespaces/<ns>/pingsources/<name>`, a new UUID `id`, `time` the scheduled instant,
and `data` sent as is under `contentType`. Sending is synchronous and the next tick is the first
one after the send returned: a slow sink makes ticks skip, never pile up and burst, because the
tick only asks "what is due now?" and a burst would ask it again and again for nothing.
Knative's 0–500 ms random jitter is left out: one process has no herd to spread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from cloudevents.http import CloudEvent

from eventing.sources.delivery import KNATIVE_BACKOFF, Backoff, Sender
from eventing.sources.schedule import Schedule, parse_schedule

PING = "dev.knative.sources.ping"

log = logging.getLogger("iter8.eventing.sources")


def ping_source(namespace: str, name: str) -> str:
    return f"/apis/v1/namespaces/{namespace}/pingsources/{name}"


def make_ping(source: str, fire: float, data: str | bytes | None, content_type: str) -> CloudEvent:
    attributes = {"type": PING, "source": source, "time": _rfc3339(fire)}
    if content_type:
        attributes["datacontenttype"] = content_type
    body = data.encode() if isinstance(data, str) else data  # bytes go out unchanged
    return CloudEvent(attributes, body)


class PingSource:
    """Ticks on `schedule` (`@every 1s`, `@every 500ms`, or cron with optional seconds).

    `now` and `sleep` may be injected (epoch seconds; `sleep` must return early on `stop()`
    to stop promptly, which the default does). `run(until=...)` ticks in the calling thread,
    `start()`/`stop()` in a background one.
    """

    def __init__(
        self,
        sink: str,
        *,
        schedule: str | Schedule = "@every 1s",
        timezone: str | None = None,
        namespace: str = "iter8-system",
        name: str = "iter8-tick",
        data: str | bytes | None = None,
        content_type: str = "",
        extensions: Mapping[str, str] | None = None,
        backoff: Backoff = KNATIVE_BACKOFF,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.schedule = (
            parse_schedule(schedule, timezone) if isinstance(schedule, str) else schedule
        )
        self.source = ping_source(namespace, name)
        self.data, self.content_type = data, content_type
        self.sender = Sender(sink, backoff=backoff, overrides=extensions)
        self.now = now
        self._stopping = threading.Event()
        self.sleep = sleep or self._stopping.wait
        self.sent = 0
        self.dropped = 0
        self.skipped = 0
        self._thread: threading.Thread | None = None

    def run(self, until: float | None = None) -> None:
        """Tick until `stop()`, or until the next tick would come after `until`."""
        start = self.now()
        due = self.schedule.following(start, start)
        while not self._stopping.is_set() and (until is None or due <= until):
            wait = due - self.now()
            if wait > 0:
                self.sleep(wait)
                continue  # woken early, or by stop(): look again
            self._tick(due)
            now = self.now()
            following = self.schedule.following(due, now)
            self.skipped += _missed(self.schedule, due, following)
            due = following

    def _tick(self, fire: float) -> None:
        event = make_ping(self.source, fire, self.data, self.content_type)
        if self.sender.send(event):
            self.sent += 1
        else:
            self.dropped += 1

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("PingSource already started")
        self._thread = threading.Thread(target=self._run, name="pingsource", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.run()
        except Exception:
            log.exception("ping source %s stopped", self.source)
        finally:
            self.sender.close()

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        self.sender.interrupt()
        if self._thread is not None:
            self._thread.join(timeout)
        else:  # only run() was used: its sender is still open
            self.sender.close()

    def __enter__(self) -> PingSource:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _missed(schedule: Schedule, fired: float, following: float) -> int:
    """How many ticks fell between `fired` and `following` (counted up to 1000)."""
    count, t = 0, schedule.following(fired, fired)
    while t < following and count < 1000:
        count, t = count + 1, schedule.following(t, t)
    return count


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
