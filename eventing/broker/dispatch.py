"""Delivering one event to one Trigger's subscriber, as the MT channel broker's filter does.

The event goes out without its TTL, in binary mode (or structured with `delivery.format: json`),
with `Prefer: reply` and `Kn-Namespace`. Failed attempts are retried per `backoff`; a reply is
given the TTL back and published into the broker again (retried the same way, without calling the
subscriber again). What still fails goes to the dead-letter sink as the event the broker holds
(with its TTL, as Knative's channel dispatcher sends it) with the `knativeerror*` extensions;
without a sink the failure is reported to the caller.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from eventing.broker import ttl
from eventing.broker.backoff import RetryPolicy, retry_after_seconds
from eventing.broker.clock import Clock
from eventing.broker.config import TriggerSpec
from eventing.broker.deadletter import dead_letter
from eventing.broker.event import Event
from eventing.broker.filters import Filter
from eventing.broker.outcome import (
    BAD_REQUEST,
    Outcome,
    from_sink,
    from_subscriber,
    transport_failure,
)
from eventing.broker.sender import Sender
from eventing.broker.stats import Stats
from eventing.broker.wire import Headers, to_binary, to_structured

log = logging.getLogger(__name__)

UNAVAILABLE = 503

BrokerKey = tuple[str, str]  # (namespace, name)
# Publishes a reply into a broker as its ingress would; returns the ingress's status.
Reenter = Callable[[BrokerKey, Event, Headers], int]


@dataclass(frozen=True)
class Target:
    """A Trigger with everything resolved: where to deliver and how."""

    trigger: TriggerSpec
    filter: Filter
    url: str
    policy: RetryPolicy
    timeout: float | None
    format: str | None
    dead_letter_url: str | None

    @property
    def broker(self) -> BrokerKey:
        return (self.trigger.namespace, self.trigger.broker)

    @property
    def name(self) -> str:
        return f"{self.trigger.namespace}/{self.trigger.name}"


class Dispatcher:
    def __init__(
        self,
        sender: Sender,
        clock: Clock,
        reenter: Reenter,
        reply_url: Callable[[BrokerKey], str],
        stats: Stats,
        stopping: threading.Event,
    ) -> None:
        self.sender, self.clock, self.reenter = sender, clock, reenter
        self.reply_url, self.stats, self.stopping = reply_url, stats, stopping

    def dispatch(self, target: Target, event: Event, carried: Headers) -> bool:
        """Deliver, forward the reply, dead-letter on failure; False if the failure stands."""
        delivered, hops_left = ttl.strip(event)
        headers = [
            *carried.items(),
            ("prefer", "reply"),
            ("kn-namespace", target.trigger.namespace),
        ]
        outcome = self.retrying(
            lambda: self.post(target.url, delivered, headers, target, from_subscriber),
            target.policy,
        )
        if not outcome.ok:
            return self.dead_letter(target, event, target.url, outcome, carried)
        self.stats.add("delivered")
        if outcome.invalid_reply is not None:
            self.stats.add("replies")
            log.warning(
                "trigger %s: the reply to event %s is not a valid event (%s); the broker refuses it",
                target.name,
                event.id,
                outcome.invalid_reply,
            )
            refused = Outcome(BAD_REQUEST, False)  # what the ingress answers such a reply
            return self.dead_letter(target, event, self.reply_url(target.broker), refused, carried)
        if outcome.reply is None:
            return True
        self.stats.add("replies")
        reply = ttl.carry(outcome.reply, hops_left)
        # no headers of the subscriber's response travel with the reply: Knative's filter
        # proxies only its Retry-After, which the channel's pass-through then drops
        forwarded = self.retrying(
            lambda: from_sink(self.reenter(target.broker, reply, {}), {}, b""),
            target.policy,
        )
        if forwarded.ok:
            return True
        failed_at = self.reply_url(target.broker)
        return self.dead_letter(target, event, failed_at, forwarded, carried)

    def abandon(self, target: Target, event: Event, carried: Headers) -> bool:
        """A queued delivery the broker stopped before making: dead-lettered, or logged."""
        outcome = Outcome(UNAVAILABLE, False, b"the broker stopped before delivering the event")
        return self.dead_letter(target, event, target.url, outcome, carried)

    def retrying(self, attempt: Callable[[], Outcome], policy: RetryPolicy) -> Outcome:
        outcome = attempt()
        for retry in range(1, policy.retry + 1):
            if outcome.ok or not outcome.retryable or self.stopping.is_set():
                break
            self.stats.add("retries")
            retry_after = retry_after_seconds(outcome.headers.get("retry-after"), self.clock.now())
            self.clock.sleep(policy.wait_before(retry, outcome.status, retry_after))
            if self.stopping.is_set():
                break
            outcome = attempt()
        return outcome

    def post(
        self,
        url: str,
        event: Event,
        extra: list[tuple[str, str]],
        target: Target,
        judge: Callable[[int, dict[str, str], bytes], Outcome],
    ) -> Outcome:
        event_headers, body = to_structured(event) if target.format == "json" else to_binary(event)
        try:
            status, headers, content = self.sender.post(
                url, [*extra, *event_headers], body, target.timeout
            )
        except Exception as error:  # any failure to get a response is a dispatch error
            return transport_failure(error)
        return judge(status, headers, content)

    def dead_letter(
        self,
        target: Target,
        original: Event,
        failed_at: str,
        outcome: Outcome,
        carried: Headers,
    ) -> bool:
        if target.dead_letter_url is None:
            self.stats.add("failed")
            log.warning(
                "trigger %s: event %s (%s) failed at %s with %s and has no dead-letter sink",
                target.name,
                original.id,
                original.type,
                failed_at,
                outcome.error_code,
            )
            return False
        letter = dead_letter(original, failed_at, outcome)
        headers = [*carried.items(), ("kn-namespace", target.trigger.namespace)]
        sent = self.retrying(
            lambda: self.post(target.dead_letter_url or "", letter, headers, target, from_sink),
            target.policy,
        )
        if sent.ok:
            self.stats.add("dead_lettered")
            return True
        self.stats.add("failed")
        log.warning(
            "trigger %s: event %s failed at %s and at its dead-letter sink %s (%s)",
            target.name,
            original.id,
            failed_at,
            target.dead_letter_url,
            sent.error_code,
        )
        return False
