"""The PingSource with an injected clock: how many ticks, their attributes, and that a slow sink
makes ticks skip instead of piling up."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from eventing.sources.ping import PingSource
from tests.eventing.test_sources_capture import Capture

START = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC).timestamp()


class FakeClock:
    """Time moves only when the source sleeps or the test says so."""

    def __init__(self, t: float) -> None:
        self.t = t
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.t += seconds


@pytest.fixture
def capture() -> Iterator[Capture]:
    with Capture() as receiver:
        yield receiver


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def _times(capture: Capture) -> list[float]:
    return [datetime.fromisoformat(e["time"]).timestamp() - START for e in capture.events()]


def test_one_event_per_tick_with_knatives_attributes(capture: Capture, clock: FakeClock) -> None:
    source = PingSource(
        capture.url,
        schedule="@every 1s",
        namespace="iter8-system",
        name="tick",
        data='{"hello": "world"}',
        content_type="application/json",
        now=clock.now,
        sleep=clock.sleep,
    )
    source.run(until=START + 5)
    source.stop()
    assert source.sent == 5 and source.skipped == 0
    assert _times(capture) == [1, 2, 3, 4, 5]
    ids = set()
    for request in capture.requests:
        headers = request.headers
        assert {h for h in headers if h.startswith("ce-")} == {
            "ce-specversion",
            "ce-id",
            "ce-source",
            "ce-type",
            "ce-time",
        }
        assert headers["ce-type"] == "dev.knative.sources.ping"
        assert headers["ce-source"] == "/apis/v1/namespaces/iter8-system/pingsources/tick"
        assert headers["content-type"] == "application/json"
        assert request.body == b'{"hello": "world"}'
        assert uuid.UUID(headers["ce-id"]).version == 4
        ids.add(headers["ce-id"])
    assert len(ids) == 5
    assert capture.events()[0]["time"] == "2026-01-01T00:00:01Z"


def test_a_slow_sink_makes_ticks_skip_not_pile_up(capture: Capture, clock: FakeClock) -> None:
    capture.on_request = lambda _: clock.advance(2.5)  # each delivery takes 2.5 s
    source = PingSource(capture.url, schedule="@every 1s", now=clock.now, sleep=clock.sleep)
    source.run(until=START + 10)
    source.stop()
    assert _times(capture) == [1, 4, 7, 10]  # in step with the schedule, never a burst
    assert source.skipped == 8  # 2-3, 5-6, 8-9, 11-12


def test_sub_second_period_and_no_data(capture: Capture, clock: FakeClock) -> None:
    source = PingSource(capture.url, schedule="@every 500ms", now=clock.now, sleep=clock.sleep)
    source.run(until=START + 2)
    source.stop()
    assert _times(capture) == [0.5, 1.0, 1.5, 2.0]
    assert all(r.body == b"" and "content-type" not in r.headers for r in capture.requests)


def test_cron_with_seconds(capture: Capture) -> None:
    clock = FakeClock(START + 7)
    source = PingSource(capture.url, schedule="*/15 * * * * *", now=clock.now, sleep=clock.sleep)
    source.run(until=START + 60)
    source.stop()
    assert _times(capture) == [15, 30, 45, 60]


def test_a_dropped_tick_is_counted_and_the_next_one_still_comes(
    capture: Capture, clock: FakeClock
) -> None:
    capture.statuses = [400]  # final: no retry
    source = PingSource(capture.url, schedule="@every 1s", now=clock.now, sleep=clock.sleep)
    source.run(until=START + 2)
    source.stop()
    assert (source.sent, source.dropped, len(capture.requests)) == (1, 1, 2)


def test_start_and_stop_in_a_thread_on_the_real_clock(capture: Capture) -> None:
    with PingSource(capture.url, schedule="@every 20ms") as source:
        capture.wait_for(2)
    assert source._thread is not None and not source._thread.is_alive()
    assert source.sent >= 2
