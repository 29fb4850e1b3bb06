"""functions.wire reads and writes binary-mode events as the CloudEvents SDK does: the same
attributes in the same order, the same data, the same headers and body, the same errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http
from hypothesis import given, settings
from hypothesis import strategies as st

from functions import wire
from iter8.events import EventType, ExperimentRef, experiment_event

TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
NAMES = st.sampled_from(["experiment", "iteration", "x1", "traceparent", "data", "extensions"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


def _outcome(call: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", call(*args)
    except Exception as error:  # the same error, or the same result
        return type(error).__name__, str(error)


@st.composite
def requests(draw: st.DrawFn) -> tuple[dict[str, str], bytes]:
    """Headers (any case, any order) and a body, mostly a binary-mode event, sometimes not."""
    fields: dict[str, str] = {}
    for name, chance in (("id", 0.95), ("source", 0.95), ("type", 0.95), ("subject", 0.5)):
        if draw(st.floats(0, 1)) < chance:
            fields[f"ce-{name}"] = draw(TEXT)
    if draw(st.floats(0, 1)) < 0.95:
        fields["ce-specversion"] = draw(st.sampled_from(["1.0", "1.0", "1.0", "0.3", "2"]))
    for name in ("time", "dataschema", "datacontenttype"):
        if draw(st.floats(0, 1)) < 0.2:
            fields[f"ce-{name}"] = draw(TEXT)
    types = ["application/json", "application/cloudevents+json", "text/plain", ""]
    if draw(st.booleans()):
        fields["content-type"] = draw(st.sampled_from(types))
    for name in draw(st.lists(NAMES, max_size=3, unique=True)):
        fields[f"ce-{name}"] = draw(TEXT)
    fields["content-length"] = "7"
    order = draw(st.permutations(list(fields)))
    cased = {draw(st.sampled_from([k, k.upper(), k.title()])): fields[k] for k in order}
    body = draw(
        st.one_of(
            JSON.map(lambda value: json.dumps(value).encode()),
            st.binary(max_size=8),
            st.sampled_from([b"", b'""', b"\xff\xfe{", b"[" * 100_000]),
        )
    )
    return cased, body


def _attributes(event: CloudEvent, drop_time: bool) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in event.get_attributes().items() if not (drop_time and k == "time")]


@settings(max_examples=1500, deadline=None)
@given(requests())
def test_a_request_reads_as_the_sdk_reads_it(request: tuple[dict[str, str], bytes]) -> None:
    headers, body = request
    sdk, ours = _outcome(from_http, dict(headers), body), _outcome(wire.read, headers, body)
    assert sdk[0] == ours[0]
    if sdk[0] != "ok":
        assert sdk == ours
        return
    # an event without a time gets the time it is read at, from both
    timeless = not any(key.lower() == "ce-time" for key in headers)
    assert _attributes(sdk[1], timeless) == _attributes(ours[1], timeless)
    assert type(sdk[1].data) is type(ours[1].data) and sdk[1].data == ours[1].data


@st.composite
def events(draw: st.DrawFn) -> CloudEvent:
    attributes: dict[str, Any] = {"type": draw(TEXT), "source": draw(TEXT)}
    for name in ("id", "time", "subject", "dataschema", "datacontenttype"):
        if draw(st.booleans()):
            attributes[name] = draw(TEXT | st.none())
    if draw(st.floats(0, 1)) < 0.1:
        attributes["specversion"] = "0.3"
    for name in draw(st.lists(NAMES, max_size=3, unique=True)):
        attributes[name] = draw(TEXT | st.integers() | st.none())
    data = draw(
        st.dictionaries(TEXT, JSON, max_size=4)
        | JSON
        | st.just({"not JSON": {1, 2}})
        | st.just({"nan": float("nan")})
    )
    return CloudEvent(attributes, data)


@settings(max_examples=1500, deadline=None)
@given(events())
def test_an_event_writes_as_the_sdk_writes_it(event: CloudEvent) -> None:
    sdk, ours = _outcome(to_binary, event), _outcome(wire.write, event)
    assert sdk[0] == ours[0]
    if sdk[0] != "ok":
        assert sdk == ours
        return
    (sdk_headers, sdk_body), (our_headers, our_body) = sdk[1], ours[1]
    assert list(sdk_headers.items()) == list(our_headers.items())
    assert sdk_body == our_body


def test_the_events_the_functions_exchange_do_not_go_through_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the detour costs is the point: an Iter8 event and its reply never reach it."""

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("went through the SDK")

    ref = ExperimentRef(namespace="ns", name="exp", uid="u-1")
    due = experiment_event(EventType.ITERATION_DUE, "analyze", ref, 2)
    headers, body = to_binary(due)
    reply = experiment_event(EventType.ANALYSIS_COMPLETED, "analyze", ref, 2, weights=[])
    monkeypatch.setattr(wire, "from_http", refuse)
    monkeypatch.setattr(wire, "to_binary", refuse)
    assert wire.read({k.title(): str(v) for k, v in headers.items()}, body) == due
    assert wire.write(reply)[1] == json.dumps(reply.data).encode()
