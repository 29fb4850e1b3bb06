"""The broker's data plane, without HTTP: admit an event, fan it out to the matching Triggers.

Synchronous by default, like the MT channel broker over an InMemoryChannel: the ingress answers
only when every matching Trigger's delivery is done (retries, dead letters and whole reply chains
included), 202 if all succeeded or were dead-lettered, 500 if any failed without a dead-letter
sink. Triggers are served in parallel, as the channel's fan-out does.

Asynchronous mode (like a Kafka broker) answers 202 once the event is queued; worker threads
deliver, replies are queued again, and failures without a sink are only logged and counted.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from eventing.broker import ttl
from eventing.broker.clock import Clock, SystemClock
from eventing.broker.config import Config, ConfigError
from eventing.broker.dispatch import BrokerKey, Dispatcher, Target
from eventing.broker.event import Event
from eventing.broker.filters import matches
from eventing.broker.resolve import Resolver, UnresolvedError, resolve
from eventing.broker.sender import Sender
from eventing.broker.stats import Stats
from eventing.broker.wire import Headers

log = logging.getLogger(__name__)

ACCEPTED, BAD_REQUEST, NOT_FOUND, FAILED = 202, 400, 404, 500
INLINE_DEPTH = 32  # reply chains deeper than this continue on a fresh thread (stack depth)

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
    ) -> None:
        self.config, self.async_mode, self.max_ttl = config, async_mode, max_ttl
        self.clock: Clock = clock or SystemClock()
        self.base_url = "http://127.0.0.1"
        self.stats = Stats()
        self._stopping = threading.Event()
        self._sender = sender or Sender()
        self._targets = _targets(config, resolver)
        self._dispatcher = Dispatcher(
            self._sender, self.clock, self.ingest, self.ingress_url, self.stats, self._stopping
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
        targets = self._targets.get(key)
        if targets is None:
            return NOT_FOUND
        admitted = ttl.admit(event, self.clock.now(), self.max_ttl)
        if admitted is None:
            self.stats.add("ttl_dropped")
            log.info("broker %s/%s: dropped %s (%s), its TTL is spent", *key, event.id, event.type)
            return BAD_REQUEST
        self.stats.add("received")
        jobs = [(t, admitted, passthrough) for t in targets if matches(t.filter, admitted)]
        if self.async_mode:
            for job in jobs:
                self._submit(job)
            return ACCEPTED
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

    def _submit(self, job: Job) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(job)

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

    def close(self) -> None:
        self._stopping.set()
        if isinstance(self.clock, SystemClock):
            self.clock.interrupt()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout=5)
        self._sender.close()


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
