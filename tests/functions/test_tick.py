"""The tick on a real SQLite store and a local HTTP sink: it parses an experiment once per
version, never a completed one, and still sees every change and every deletion."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from functions.analyze import main as analyze
from functions.analyze import planning
from functions.analyze.planning import ParsedExperiments
from functions.runtime import Runtime
from iter8.api.experiment import Experiment
from iter8.demo.experiment import knative_service
from iter8.embedded.stack import StackOptions, tick_options
from iter8.events import BadEvent, EventType, TickData
from iter8.lifecycle import tick
from iter8.store import EXPERIMENTS
from iter8.store.resources import KNATIVE_SERVICES
from tests.eventing.test_sources_capture import Capture
from tests.functions.harness import Clock, add_event, canary, deliver, setup
from tests.functions.test_phases import due_events, run_to_end


@pytest.fixture
def sink() -> Iterator[Capture]:
    capture = Capture()
    yield capture
    capture.close()


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the experiments the tick parses, in order (a fresh cache per test)."""
    names: list[str] = []
    original = planning.load_lenient

    def counting(model: type[Experiment], data: Any) -> Any:
        names.append(data["metadata"]["name"])
        return original(model, data)

    monkeypatch.setattr(planning, "load_lenient", counting)
    monkeypatch.setattr(analyze, "PARSED", ParsedExperiments())
    return names


def tick_now(runtime: Runtime, sink: Capture) -> list[tuple[str, str]]:
    """One tick through `post_due_events`: the (type, subject) of each event it POSTed, sorted
    (the tick POSTs side by side, so they reach the sink in any order)."""
    before = len(sink.requests)
    posted = analyze.post_due_events(runtime)
    events = [request.event() for request in sink.wait_for(before + posted)[before:]]
    return sorted((event["type"], event["subject"]) for event in events)


def with_sink(runtime: Runtime, sink: Capture) -> Runtime:
    return Runtime(
        store=runtime.store, sink=sink.url, now=runtime.now, seed=7, timeouts=runtime.timeouts
    )


def test_a_completed_experiment_is_never_parsed(
    runtime: Runtime, clock: Clock, sink: Capture, parsed: list[str]
) -> None:
    setup(runtime, canary())
    deliver(runtime, add_event(canary()))
    run_to_end(runtime, clock)
    runtime.store.create(KNATIVE_SERVICES, knative_service("other", "default"))
    runtime.store.create(EXPERIMENTS, canary(name="second", target="default/other"))
    deliver(runtime, add_event(canary(name="second")))  # `initialized` lost: the tick asks
    ticking = with_sink(runtime, sink)
    assert tick_now(ticking, sink) == [(EventType.ITERATION_DUE, "default/second")]
    assert tick_now(ticking, sink) == [(EventType.ITERATION_DUE, "default/second")]
    assert parsed == ["second"]  # once, though it was asked for twice; `exp` never


def test_a_changed_experiment_is_read_again_and_a_deleted_one_forgotten(
    runtime: Runtime, clock: Clock, sink: Capture, parsed: list[str]
) -> None:
    setup(runtime, canary())
    runtime.store.create(KNATIVE_SERVICES, knative_service("other", "default"))
    runtime.store.create(EXPERIMENTS, canary(name="second", target="default/other"))
    for name in ("exp", "second"):
        deliver(runtime, add_event(canary(name=name)))  # initialized: iteration 1 runs at once
    ticking = with_sink(runtime, sink)
    first = tick_now(ticking, sink)
    assert first == [
        (EventType.ITERATION_DUE, "default/exp"),
        (EventType.ITERATION_DUE, "default/second"),
    ]
    assert sorted(parsed) == ["exp", "second"]
    assert tick_now(ticking, sink) == first and len(parsed) == 2  # nothing changed: no parse

    # Someone else writes: an operator aborts `exp` (an annotation: a new resourceVersion).
    patch = {"metadata": {"annotations": {"iter8.tools/abort": "stop"}}}
    runtime.store.patch(EXPERIMENTS, "default", "exp", patch)
    aborting, _ = analyze.PARSED.experiments(runtime.store.list(EXPERIMENTS)[0])
    assert aborting.metadata.name == "exp" and parsed[2:] == ["exp"]
    assert (aborting.metadata.annotations or {}).get("iter8.tools/abort") == "stop"

    runtime.store.delete(EXPERIMENTS, "default", "second")
    assert tick_now(ticking, sink) == [(EventType.ITERATION_DUE, "default/exp")]
    listed = analyze.PARSED.experiments(runtime.store.list(EXPERIMENTS)[0])
    assert [e.metadata.name for e in listed] == ["exp"]


def test_the_plan_on_planning_views_is_the_plan_on_whole_experiments(
    runtime: Runtime, clock: Clock
) -> None:
    """At every step of a run to the end (and of a second experiment waiting for the target),
    the tick asks for the same events on the cut views as on the whole experiments."""
    setup(runtime, canary())
    runtime.store.create(EXPERIMENTS, canary(name="second"))
    deliver(runtime, add_event(canary()))
    deliver(runtime, add_event(canary(name="second")))
    compared = 0
    for _ in range(40):
        stored = runtime.store.list(EXPERIMENTS)[0]
        whole = [Experiment.from_wire(item) for item in stored]
        cut = [Experiment.from_wire(v) for v in map(tick.planning_view, stored) if v is not None]
        now = clock()
        assert _requests(tick.plan(cut, now)) == _requests(tick.plan(whole, now))
        compared += 1
        for event in due_events(runtime, clock):
            reply = deliver(runtime, event)
            while reply is not None and reply["type"] in (
                EventType.INITIALIZED,
                EventType.ANALYSIS_COMPLETED,
                EventType.CONCLUDED,
            ):
                reply = deliver(runtime, reply)
        clock.advance(1)
    assert {e.status.stage for e in whole} == {"Completed"} and compared == 40


def _requests(requests: list[tick.Request]) -> list[tuple[str, str | None, int]]:
    return [(r.type, r.experiment.metadata.name, r.iteration) for r in requests]


def test_a_tick_with_a_look_ahead_posts_an_iteration_at_its_due_time(
    runtime: Runtime, clock: Clock, sink: Capture, parsed: list[str]
) -> None:
    """Iteration 2 falls due 0.3 s after the tick (interval 1 s): without a look-ahead the tick
    posts nothing; with 0.5 s it posts iteration 2 once 0.3 s have passed, and returns after."""
    setup(runtime, canary())
    reply = deliver(runtime, add_event(canary()))
    while reply is not None and reply["type"] != EventType.WEIGHTS_APPLIED:
        reply = deliver(runtime, reply)  # initialized → iteration 1 → route
    clock.advance(0.7)
    ticking = with_sink(runtime, sink)
    assert analyze.post_due_events(ticking) == 0
    assert analyze.post_due_events(ticking, timedelta(seconds=0.2)) == 0  # due beyond it

    started = time.monotonic()
    assert analyze.post_due_events(ticking, timedelta(seconds=0.5)) == 1
    waited = time.monotonic() - started
    (request,) = sink.requests
    event = request.event()
    assert (event["type"], event["subject"], event["iteration"]) == (
        EventType.ITERATION_DUE,
        "default/exp",
        "2",
    )
    assert waited >= 0.3 - 1e-3  # posted at its due time, not at the tick
    clock.advance(0.3)  # the due time: analyze takes the event (an early one it would drop)
    assert deliver(runtime, event)["type"] == EventType.ANALYSIS_COMPLETED  # type: ignore[index]


def test_a_detached_tick_is_answered_while_the_broker_holds_its_post(
    runtime: Runtime, clock: Clock, sink: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A synchronous broker holds each POST until its chain is done (here: until the gate
    opens). A detached tick is answered before that, and the next tick leaves the iteration
    being posted alone; a held tick would have waited for the gate."""
    monkeypatch.setattr(analyze, "_DETACHED", analyze.DetachedTicks(limit=2))
    setup(runtime, canary())
    reply = deliver(runtime, add_event(canary()))
    while reply is not None and reply["type"] != EventType.WEIGHTS_APPLIED:
        reply = deliver(runtime, reply)  # initialized → iteration 1 → route
    clock.advance(1.0)  # iteration 2 is due
    held, gate, order = threading.Event(), threading.Event(), []

    def chain(_: object) -> None:
        held.set()
        gate.wait(10)
        order.append("answered by the broker")

    sink.on_request = chain
    ticking = with_sink(runtime, sink)
    try:
        assert analyze.post_due_events(ticking, detach=True) == 1
        order.append("tick answered")
        assert held.wait(10)
        assert analyze.post_due_events(ticking, detach=True) == 0  # being posted already
    finally:
        gate.set()
    (request,) = sink.wait_for(1)
    assert order == ["tick answered", "answered by the broker"]
    assert (request.event()["type"], request.event()["iteration"]) == (EventType.ITERATION_DUE, "2")


def test_detached_ticks_are_bounded_and_forget_what_they_posted() -> None:
    """At most `limit` under way: another is refused (its tick plans again), and once one ends
    its iterations may be planned again."""
    detached = analyze.DetachedTicks(limit=1)
    experiment = Experiment.from_wire(canary())
    due = tick.Request(EventType.ITERATION_DUE, experiment, 2)
    other = tick.Request(EventType.ITERATION_DUE, experiment, 3)
    gate, done = threading.Event(), threading.Event()

    def post() -> None:
        gate.wait(10)
        done.set()

    assert detached.start([due], post)
    assert detached.not_pending([due, other]) == [other]
    assert not detached.start([other], lambda: None)  # the one slot is taken
    gate.set()
    assert done.wait(10)
    for _ in range(1000):  # the thread lets go of its slot and its keys right after `post`
        if detached.not_pending([due]) == [due] and detached.start([other], lambda: None):
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the slot or the pending iteration was never given back")


def ping(data: object) -> CloudEvent:
    attributes = {"type": str(EventType.PING), "source": "/test/ping"}
    if isinstance(data, dict):
        attributes["datacontenttype"] = "application/json"
    return CloudEvent(attributes, data)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"tick": True, "aheadSeconds": -1}, "greater than or equal to 0"),
        ({"aheadSeconds": 61}, "less than or equal to 60"),
        ({"aheadSeconds": "soon"}, "a valid number"),
        ({"aheadSeconds": float("nan")}, "finite number"),
    ],
)
def test_a_tick_with_a_wrong_look_ahead_is_refused_naming_the_field(
    runtime: Runtime, sink: Capture, data: dict[str, object], problem: str
) -> None:
    with pytest.raises(BadEvent, match=rf"data\.aheadSeconds: .*{problem}"):
        analyze.handle(ping(data), with_sink(runtime, sink))


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_a_tick_whose_detach_is_not_a_json_boolean_is_refused(
    runtime: Runtime, sink: Capture, value: object
) -> None:
    with pytest.raises(BadEvent, match=r"data\.detach: Input should be a valid boolean"):
        analyze.handle(ping({"tick": True, "detach": value}), with_sink(runtime, sink))


@pytest.mark.parametrize("data", [None, "hello", {"tick": True}])
def test_a_tick_without_options_has_no_look_ahead(
    runtime: Runtime, sink: Capture, data: object
) -> None:
    """PingSource's data is free text: what is not an object with options means none."""
    assert analyze.handle(ping(data), with_sink(runtime, sink)) is None


@pytest.mark.parametrize(("async_broker", "detached"), [(False, True), (True, False)])
def test_the_embedded_stack_detaches_its_ticks_only_for_the_synchronous_broker(
    tmp_path: Path, async_broker: bool, detached: bool
) -> None:
    options = StackOptions(
        store="sqlite:x", tick=timedelta(seconds=2), log_dir=tmp_path, async_broker=async_broker
    )
    data = TickData.model_validate(tick_options(options))
    assert (data.ahead_seconds, data.detach) == (1.8, detached)
