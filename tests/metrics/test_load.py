"""The load generator against a real local HTTP server with known status codes and delays."""

from __future__ import annotations

import threading

import pytest

from iter8.api.builtin import builtin_metrics
from iter8.metrics.load import DEFAULT_QUERIES, LoadSpec, generate, parse_duration
from iter8.metrics.registry import fetch_all
from tests.metrics.backend import Answer, Backend, Seen
from tests.metrics.builders import version


def every_fourth_fails(_: Seen, number: int) -> Answer:
    return Answer(500 if number % 4 == 3 else 200, "{}")


def spec(**fields: object) -> LoadSpec:
    return LoadSpec.from_task(fields)


def test_every_request_is_counted_with_its_status(http_backend: Backend) -> None:
    http_backend.routes.update({"/ok": Answer(), "/flaky": every_fourth_fails})
    versions = [
        {"name": "ok", "url": f"{http_backend.url}/ok"},
        {"name": "flaky", "url": f"{http_backend.url}/flaky"},
        {"name": "down", "url": "http://127.0.0.1:9/"},
    ]
    hists = generate(spec(versions=versions, numQueries=20, qps=0, connections=4))
    assert {name: data.ret_codes for name, data in hists.root.items()} == {
        "ok": {"200": 20},
        "flaky": {"200": 15, "500": 5},
        "down": {"-1": 20},
    }
    assert all(d.duration_histogram.count == 20 for d in hists.root.values())
    assert len(http_backend.seen) == 40

    # and the built-in metrics read them as such
    metrics = [m for k, m in builtin_metrics().items() if k.name in ("error-rate", "request-count")]
    versions_ = [version(v) for v in ("ok", "flaky", "down")]
    result = fetch_all(metrics, versions_, elapsed_seconds=1, builtin=hists)
    rates = result["iter8-system/error-rate"]
    assert [rates[v].value for v in ("ok", "flaky", "down")] == [0, 0.25, 1]
    assert {o.value for o in result["iter8-system/request-count"].values()} == {20}


def test_latency_includes_the_servers_delay(http_backend: Backend) -> None:
    http_backend.routes["/slow"] = Answer(delay=0.05)
    versions = [{"name": "slow", "url": f"{http_backend.url}/slow"}]
    histogram = generate(spec(versions=versions, numQueries=8, qps=0)).root["slow"]
    durations = histogram.duration_histogram
    assert durations.min is not None and durations.min >= 0.05
    assert durations.sum >= 8 * 0.05
    assert sum(b.count for b in durations.data) == 8


def test_a_payload_makes_it_a_post_with_the_versions_headers(http_backend: Backend) -> None:
    http_backend.routes.update({"/in": Answer(), "/payload": Answer(body='{"from": "url"}')})
    target = {"name": "v1", "url": f"{http_backend.url}/in", "headers": {"X-Test": "yes"}}
    generate(spec(versions=[target], numQueries=2, payloadStr='{"a": 1}', contentType="text/json"))
    for seen in http_backend.seen:
        assert (seen.method, seen.body) == ("POST", b'{"a": 1}')
        assert (seen.headers["content-type"], seen.headers["x-test"]) == ("text/json", "yes")

    http_backend.seen.clear()
    url = f"{http_backend.url}/payload"
    generate(spec(versions=[target], numQueries=1, payloadStr="ignored", payloadURL=url))
    assert [s.body for s in http_backend.seen if s.path == "/in"] == [b'{"from": "url"}']


class FakeTime:
    """A clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds


def test_requests_are_paced_at_qps(http_backend: Backend) -> None:
    http_backend.routes["/ok"] = Answer()
    fake = FakeTime()
    versions = [{"name": "v1", "url": f"{http_backend.url}/ok"}]
    load = spec(versions=versions, numQueries=5, qps=4, connections=1)
    generate(load, clock=fake.clock, sleep=fake.sleep)
    assert fake.sleeps == pytest.approx([0.25] * 4)
    assert len(http_backend.seen) == 5


def test_a_time_bound_run_sends_qps_times_duration_requests(http_backend: Backend) -> None:
    http_backend.routes["/ok"] = Answer()
    fake = FakeTime()
    versions = [{"name": "v1", "url": f"{http_backend.url}/ok"}]
    load = spec(versions=versions, time="2s", qps=5, connections=1)
    hists = generate(load, clock=fake.clock, sleep=fake.sleep)
    assert hists.root["v1"].duration_histogram.count == 10


def test_defaults_and_precedence_follow_iter8() -> None:
    versions = [{"name": "v1", "url": "http://127.0.0.1:9/"}]
    default = spec(versions=versions)
    assert (default.queries, default.duration, default.qps, default.connections) == (
        DEFAULT_QUERIES,
        None,
        8,
        4,
    )
    assert spec(versions=versions, time="1m").duration == 60
    both = spec(versions=versions, time="1m", numQueries=7)
    assert (both.queries, both.duration) == (7, None)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("1m30s", 90), ("1h2m3.5s", 3723.5), ("250ms", 0.25)]
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["30", "5 s", "1d", "s"])
def test_not_go_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
