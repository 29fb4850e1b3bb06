"""Failed deliveries on Knative's broker and on the embedded one: the same event, answered the
same way by the same scripted subscriber (`tests.knative.capture`), through a Trigger with the
same `delivery` on both. Compared: how many attempts, the waits between them, and what the
dead-letter sink gets (the event, its `knativeerror*` extensions, the headers).
docs/knative-conformance.md lists what was found."""

from __future__ import annotations

import base64
import contextlib
import itertools
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from eventing.broker import EmbeddedBroker, SubscriberMap
from tests.knative.capture import ERROR_BODY, REPLY_HEADERS, record_lines, serve
from tests.knative.local import NAMESPACE, REPO, Iter8OnKnative, kubectl, wait_for
from tests.knative.test_conformance import TRANSPORT, _forget_on_the_channel

pytestmark = [pytest.mark.kube]
HOST = "faults.iter8-test.local"
IP = "127.0.2.11"
TRIGGER = "conformance-faults"
FAULT = "tools.iter8.conformance.fault"
RETRIES, DELAY = 2, 0.2  # exponential: waits 0.2 s, 0.4 s
TIMEOUT = 1.0
Record = dict[str, Any]


def fault_trigger(base: str) -> dict[str, Any]:
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {
            "name": TRIGGER,
            "namespace": NAMESPACE,
            "labels": {"eventing.knative.dev/broker": "iter8"},  # what the webhook would add
        },
        "spec": {
            "broker": "iter8",
            "filter": {"attributes": {"type": FAULT}},
            "subscriber": {"uri": f"{base}/fault"},
            "delivery": {
                "retry": RETRIES,
                "backoffPolicy": "exponential",
                "backoffDelay": f"PT{DELAY}S",
                "timeout": f"PT{TIMEOUT:g}S",
                "retryAfterMax": "PT2S",  # needs delivery-retryafter on a cluster (the script sets it)
                "deadLetterSink": {"uri": f"{base}/dead"},
            },
        },
    }


@dataclass
class Seen:
    """What one broker did with one event: the attempts at the subscriber, the dead letter."""

    attempts: list[Record]
    dead: Record | None

    def waits(self) -> list[float]:
        times = [a["t"] for a in self.attempts]
        return [round(b - a, 2) for a, b in itertools.pairwise(times)]


def seen(path: Path, event_id: str) -> list[Record]:
    return [r for r in record_lines(path) if r["headers"].get("ce-id") == event_id]


class Side:
    """One broker, its ingress URL and the file its capture subscriber writes."""

    def __init__(self, ingress: str, out: Path) -> None:
        self.ingress, self.out = ingress, out

    def send(self, http: httpx.Client, headers: dict[str, str]) -> None:
        answer = http.post(self.ingress, headers=headers, content=b"{}")
        assert answer.status_code == 202, answer

    def result(self, event_id: str, settle: float) -> Seen:
        """Once the dead letter came (or nothing more came for `settle` s)."""
        deadline = time.monotonic() + 30
        last = -1
        while time.monotonic() < deadline:
            records = seen(self.out, event_id)
            if any(r["path"].startswith("/dead") for r in records):
                break
            if len(records) == last and records:
                break
            last = len(records)
            time.sleep(settle)
        records = seen(self.out, event_id)
        dead = [r for r in records if r["path"].startswith("/dead")]
        return Seen([r for r in records if r["path"].startswith("/fault")], (dead or [None])[0])


@pytest.fixture(scope="module")
def knative_side(
    iter8_knative: Iter8OnKnative, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Side]:
    knative = iter8_knative.knative
    out = tmp_path_factory.mktemp("faults") / "requests.jsonl"
    (knative.state / "hosts.d" / "61-faults.hosts").write_text(f"{IP} {HOST}\n")
    process = subprocess.Popen(
        ["ip", "netns", "exec", knative.netns, sys.executable, "-m", "tests.knative.capture",
         "--host", IP, "--out", str(out)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    trigger = yaml.safe_dump(fault_trigger(f"http://{HOST}"))
    kubectl(iter8_knative.kubeconfig, "apply", "-f", "-", stdin=trigger)
    try:
        wait_for(
            lambda: iter8_knative._get("eventing.knative.dev", "triggers", TRIGGER),
            lambda t: any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (t.get("status") or {}).get("conditions", [])
            ),
            60,
            f"the {TRIGGER} Trigger Ready",
        )
        time.sleep(6)  # Go's resolver re-reads the hosts file at most every 5 s
        yield Side(f"{knative.ingress}/{NAMESPACE}/iter8", out)
    finally:
        for kind, selector in (
            ("trigger", f"--field-selector=metadata.name={TRIGGER}"),
            ("subscriptions.messaging.knative.dev", f"-leventing.knative.dev/trigger={TRIGGER}"),
        ):
            with contextlib.suppress(RuntimeError):
                kubectl(iter8_knative.kubeconfig, "-n", NAMESPACE, "delete", kind, selector)
        _forget_on_the_channel(iter8_knative, TRIGGER)
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def embedded_side(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Side]:
    folder = tmp_path_factory.mktemp("faults-embedded")
    out = folder / "requests.jsonl"
    server = serve("127.0.0.1", 0, out)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    trigger = folder / "trigger.yaml"
    trigger.write_text(yaml.safe_dump(fault_trigger(f"http://{host!s}:{port}")))
    broker = EmbeddedBroker.from_files(
        [REPO / "eventing" / "config" / "broker.yaml", trigger], SubscriberMap({})
    )
    try:
        with broker.serve() as running:
            yield Side(running.broker_url(NAMESPACE, "iter8"), out)
    finally:
        server.shutdown()
        server.server_close()


def fault_headers(event_id: str, answer: str, ttl: str | None) -> dict[str, str]:
    headers = {
        "ce-specversion": "1.0", "ce-id": event_id, "ce-source": "/conformance",
        "ce-type": FAULT, "ce-answer": answer, "content-type": "application/json",
    }  # fmt: skip
    if ttl is not None:
        headers["ce-knativebrokerttl"] = ttl
    return headers


VOLATILE = {"ce-knativearrivaltime"}
ERROR_EXTENSIONS = ("ce-knativeerrordest", "ce-knativeerrorcode", "ce-knativeerrordata")


def dead_letter_contract(record: Record | None) -> dict[str, str] | None:
    """The dead letter's headers that are the delivery contract, the error destination as its
    path (the two brokers' hosts differ: a cluster-local name, 127.0.0.1)."""
    if record is None:
        return None
    found = {
        k: ("<set>" if k in VOLATILE else v)
        for k, v in record["headers"].items()
        if k not in TRANSPORT
    }
    if "ce-knativeerrordest" in found:
        found["ce-knativeerrordest"] = urlsplit(found["ce-knativeerrordest"]).path
    return found


# (the subscriber's answer, the TTL the event enters with): each is sent through both brokers.
CASES = {
    "refused (422, not retried)": ("status-422", None),
    "unavailable (503, retried)": ("status-503", None),
    "429 with Retry-After: 1 (retryAfterMax PT2S)": ("retry-after", None),
    "slower than delivery.timeout": ("sleep", None),
    "an answer that trickles past delivery.timeout": ("trickle", None),
    "2xx with a body that is not an event": ("not-an-event", None),
    "2xx with a malformed event": ("bad-event", None),
    "a reply the ingress refuses (TTL spent)": ("reply", "2"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_failed_delivery_goes_the_same_way_on_both_brokers(
    case: str, knative_side: Side, embedded_side: Side
) -> None:
    answer, ttl = CASES[case]
    event_id = f"fault-{secrets.token_hex(4)}"
    with httpx.Client(timeout=30) as http:
        knative_side.send(http, fault_headers(event_id, answer, ttl))
        embedded_side.send(http, fault_headers(event_id, answer, ttl))
    real = knative_side.result(event_id, settle=3)
    ours = embedded_side.result(event_id, settle=3)
    assert len(ours.attempts) == len(real.attempts), (real.waits(), ours.waits())
    for theirs, mine in zip(real.waits(), ours.waits(), strict=True):
        assert abs(theirs - mine) < 0.3, (real.waits(), ours.waits())
    mine, theirs = dead_letter_contract(ours.dead), dead_letter_contract(real.dead)
    assert mine is not None and theirs is not None
    if case in WITHOUT_EXTENSIONS_ON_KNATIVE:
        assert not set(ERROR_EXTENSIONS) & set(theirs), theirs
        assert mine["ce-knativeerrorcode"] == WITHOUT_EXTENSIONS_ON_KNATIVE[case]
        mine = {k: v for k, v in mine.items() if k not in ERROR_EXTENSIONS}
    assert mine == theirs


# Knative 1.11 dead-letters these without any `knativeerror*` extension: its channel dispatcher
# reads them only from the JSON body that the filter writes for a subscriber's non-2xx answer,
# and neither the filter's own 502 (a 2xx body that is not an event) nor the dispatcher's own
# timeout has one. Knative documents the extensions on every dead letter; the embedded broker
# keeps them (the code it gives): a dead-letter sink must not need them on Knative 1.11.
WITHOUT_EXTENSIONS_ON_KNATIVE = {
    "slower than delivery.timeout": "500",
    "an answer that trickles past delivery.timeout": "500",
    "2xx with a body that is not an event": "502",
}


def test_the_error_data_is_the_subscribers_body_in_base64(
    knative_side: Side, embedded_side: Side
) -> None:
    """`knativeerrordata` on Knative's dead letter is base64 of the body (its docs say the
    body), which the contract comparison above checks byte for byte."""
    event_id = f"fault-{secrets.token_hex(4)}"
    with httpx.Client(timeout=30) as http:
        knative_side.send(http, fault_headers(event_id, "status-422", None))
    dead = knative_side.result(event_id, settle=3).dead
    assert dead is not None
    assert base64.b64decode(dead["headers"]["ce-knativeerrordata"]) == ERROR_BODY


# Headers a producer may send, beside the event: which of them reach the subscriber.
PRODUCER_HEADERS = {
    "x-request-id": "req-1",
    "x-b3-traceid": "463ac35c9f6413ad",
    "knative-custom": "k",
    "k-eventing-custom": "e",
    "retry-after": "5",
    "x-custom": "x",
    "authorization": "Bearer not-a-token",
}


def test_the_same_producer_headers_reach_the_subscriber_on_both_brokers(
    knative_side: Side, embedded_side: Side
) -> None:
    event_id = f"fault-{secrets.token_hex(4)}"
    headers = {**fault_headers(event_id, "", None), **PRODUCER_HEADERS}
    with httpx.Client(timeout=30) as http:
        knative_side.send(http, headers)
        embedded_side.send(http, headers)
    [real] = knative_side.result(event_id, settle=2).attempts
    [ours] = embedded_side.result(event_id, settle=2).attempts

    def passed(record: Record) -> dict[str, str]:
        return {k: v for k, v in record["headers"].items() if k in PRODUCER_HEADERS}

    assert passed(ours) == passed(real)


def test_the_same_reply_headers_travel_with_a_reply_on_both_brokers(
    knative_side: Side, embedded_side: Side
) -> None:
    """The subscriber's reply comes back to the same Trigger (`reply-again`): what reaches it
    beside the event of the response headers the subscriber set."""
    event_id = f"fault-{secrets.token_hex(4)}"
    with httpx.Client(timeout=30) as http:
        knative_side.send(http, fault_headers(event_id, "reply-again", None))
        embedded_side.send(http, fault_headers(event_id, "reply-again", None))
    [real] = knative_side.result(f"reply-{event_id}", settle=2).attempts
    [ours] = embedded_side.result(f"reply-{event_id}", settle=2).attempts

    def passed(record: Record) -> dict[str, str]:
        return {k: v for k, v in record["headers"].items() if k in REPLY_HEADERS}

    assert passed(ours) == passed(real)
