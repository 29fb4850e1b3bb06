"""The broker's data plane, without HTTP: admit an event, fan it out to the matching Triggers.

Synchronous by default, like the MT channel broker over an InMemoryChannel: the ingress answers
only when every matching Trigger's delivery is done (retries, dead letters and whole reply chains
included), 202 if all succeeded or were dead-lettered, 500 if any failed without a dead-letter
sink. Triggers are served in parallel, as the channel's fan-out does.

Asynchronous mode (like a Kafka broker) answers 202 once the event is queued; worker threads
deliver, replies are queued again, and failures without a sink are only logged and counted. The
queue is bounded: past `max_queue` deliveries queued or under way, an event is refused with 503
(nothing of it queued), which its producer retries.

Closing drains: new events are refused with 503 while what is under way (and, in async mode,
queued) goes on for up to `drain_seconds`; then retries stop, each delivery still queued is
dead-lettered (`knativeerrorcode` 503) or, without a sink, logged with its id, and counted.
Nothing accepted is dropped without a trace.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from eventing.broker import ttl
from eventing.broker.clock import Clock, SystemClock
from eventing.broker.config import Config, ConfigError
from eventing.broker.dispatch import BrokerKey, Dispatcher, Target
from eventing.broker.event import Event
from eventing.broker.filters import matches
from eventing.broker.limits import Limits
from eventing.broker.resolve import Resolver, UnresolvedError, resolve
from eventing.broker.sender import Sender
from eventing.broker.stats import Stats
from eventing.broker.wire import Headers

log = logging.getLogger(__name__)

ACCEPTED, BAD_REQUEST, NOT_FOUND, FAILED, UNAVAILABLE = 202, 400, 404, 500, 503
INLINE_DEPTH = 32  # reply chains deeper than this continue on a fresh thread (stack depth)
FINAL_SECONDS = 5.0  # after the drain: for dead-lettering what is still queued

Job = tuple[Target, Event, Headers]


class Engine:
    def __init__(
        self,
        config: Config,
        resolver: Resolver,
        *,
        clock: Clock | None = None,
        async_mode: bool = False,
        workers: int = 8,
        max_ttl: int = ttl.MAX_TTL,
        sender: Sender | None = None,
        max_queue: int = Limits.max_queue,
    ) -> None:
        self.config, self.async_mode, self.max_ttl = config, async_mode, max_ttl
        self.max_queue = max_queue
        self.clock: Clock = clock or SystemClock()
        self.base_url = "http://127.0.0.1"
        self.stats = Stats()
        self._stopping = threading.Event()
        self._sender = sender or Sender()
        self._targets = _targets(config, resolver)
        self._draining = False
        self._dispatcher = Dispatcher(
            self._sender, self.clock, self._ingest, self.ingress_url, self.stats, self._stopping
        )
        self._depth = threading.local()
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self._workers = [
            threading.Thread(target=self._work, name=f"broker-worker-{i}", daemon=True)
            for i in range(workers if async_mode else 0)
        ]
        for worker in self._workers:
            worker.start()

    def ingress_url(self, key: BrokerKey) -> str:
        return f"{self.base_url}/{key[0]}/{key[1]}"

    def targets(self) -> list[Target]:
        return [t for targets in self._targets.values() for t in targets]

    def has_broker(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self._targets

    def ingest(self, key: BrokerKey, event: Event, passthrough: Headers) -> int:
        """What the ingress answers for a valid event sent to broker `key`."""
        if self._draining and key in self._targets:
            log.info("broker %s/%s: 503 for %s, the broker is stopping", *key, event.id)
            return UNAVAILABLE
        return self._ingest(key, event, passthrough)

    def _ingest(self, key: BrokerKey, event: Event, passthrough: Headers) -> int:
        """`ingest`, also for replies, which are taken while draining (their chain is under way)."""
        targets = self._targets.get(key)
        if targets is None:
            return NOT_FOUND
        admitted = ttl.admit(event, self.clock.now(), self.max_ttl)
        if admitted is None:
            self.stats.add("ttl_dropped")
            log.info("broker %s/%s: dropped %s (%s), its TTL is spent", *key, event.id, event.type)
            return BAD_REQUEST
        jobs = [(t, admitted, passthrough) for t in targets if matches(t.filter, admitted)]
        if self.async_mode:
            if not self._submit(jobs):
                self.stats.add("refused")
                log.info("broker %s/%s: 503 for %s, the queue is full", *key, event.id)
                return UNAVAILABLE
            self.stats.add("received")
            return ACCEPTED
        self.stats.add("received")
        with self._in_flight():
            return ACCEPTED if self._fan_out(jobs) else FAILED

    def _fan_out(self, jobs: list[Job]) -> bool:
        if not jobs:
            return True
        depth = getattr(self._depth, "value", 0)
        if depth >= INLINE_DEPTH:
            return _in_thread(lambda: self._fan_out(jobs))
        self._depth.value = depth + 1
        try:
            if len(jobs) == 1:
                return self._dispatcher.dispatch(*jobs[0])
            others = [_Run(lambda job=job: self._dispatcher.dispatch(*job)) for job in jobs[1:]]
            first = self._dispatcher.dispatch(*jobs[0])
            return all([first, *(run.result() for run in others)])
        finally:
            self._depth.value = depth

    def _submit(self, jobs: list[Job]) -> bool:
        """Queue all of an event's deliveries, or none if they would pass `max_queue`."""
        with self._idle:
            if jobs and self._pending + len(jobs) > self.max_queue:
                return False
            self._pending += len(jobs)
        for job in jobs:
            self._queue.put(job)
        return True

    @contextmanager
    def _in_flight(self) -> Iterator[None]:
        """Counts a synchronous ingest (its whole chain) as pending, so `wait_idle` waits for it."""
        with self._idle:
            self._pending += 1
        try:
            yield
        finally:
            self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            if self._pending == 0:
                self._idle.notify_all()

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                if self._stopping.is_set():
                    self._dispatcher.abandon(*job)
                else:
                    self._dispatcher.dispatch(*job)
            except Exception:
                log.exception("delivery of %s to trigger %s crashed", job[1].id, job[0].name)
            finally:
                self._done()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every delivery under way (and the replies it caused) is done: the queue in
        async mode, the ingests still fanning out in synchronous mode."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, drain_seconds: float = 0.0) -> None:
        """Refuse new events, let what is under way finish for up to `drain_seconds`, then stop
        retrying and account for every delivery still queued (dead letter or log line)."""
        self._draining = True
        self.wait_idle(drain_seconds)
        self._stopping.set()
        if isinstance(self.clock, SystemClock):
            self.clock.interrupt()
        for _ in self._workers:
            self._queue.put(None)  # after what is still queued: the workers abandon it first
        end = time.monotonic() + FINAL_SECONDS
        for worker in self._workers:
            worker.join(timeout=max(0.0, end - time.monotonic()))
        self._sender.close()  # ends deliveries still under way; their failure is logged
        while True:  # what workers stuck in a delivery did not get to
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._dispatcher.abandon(*job)
                self._done()
        for _ in self._workers:
            self._queue.put(None)


class _Run:
    """A function running on its own thread, for fan-out to several Triggers at once."""

    def __init__(self, function: Callable[[], bool]) -> None:
        self._function, self._value = function, False
        self._thread = threading.Thread(target=self._call, daemon=True)
        self._thread.start()

    def _call(self) -> None:
        try:
            self._value = self._function()
        except Exception:
            log.exception("fan-out delivery crashed")

    def result(self) -> bool:
        self._thread.join()
        return self._value


def _in_thread(function: Callable[[], bool]) -> bool:
    return _Run(function).result()


def _targets(config: Config, resolver: Resolver) -> dict[BrokerKey, list[Target]]:
    """Every broker's Triggers with URLs resolved; all unresolvable refs reported at once."""
    targets: dict[BrokerKey, list[Target]] = {(b.namespace, b.name): [] for b in config.brokers}
    problems: list[str] = []
    for trigger in config.triggers:
        delivery = config.effective_delivery(trigger)
        try:
            url = resolve(trigger.subscriber, resolver)
            sink = delivery.dead_letter_sink
            sink_url = resolve(sink, resolver) if sink else None
        except UnresolvedError as error:
            problems.append(f"{trigger.where}: {error}")
            continue
        target = Target(
            trigger,
            trigger.filter,
            url,
            delivery.retry_policy(),
            delivery.timeout,
            delivery.format,
            sink_url,
        )
        targets[(trigger.namespace, trigger.broker)].append(target)
    if problems:
        raise ConfigError(problems)
    return targets
