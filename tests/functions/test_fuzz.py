"""Hostile input to the four functions over HTTP (the Flask app functions-framework serves):
random binary and structured CloudEvents, random and wrong-typed data, huge values. Whatever
comes, a function answers 2xx or 4xx: never a 5xx (each one would be retried by the broker, to
no end) and never an exception out of the handler. A deliberate retry (500) is only for a store
that is busy or down, which these tests never are.

The runs are derandomized (the same examples every time), so that a failure reproduces."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import Any

import functions_framework
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.runtime import use_runtime
from iter8.embedded.processes import FUNCTIONS_DIR, PHASES
from iter8.events import EventType
from tests.functions.harness import Clock, canary, make_runtime, setup

FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

huge_ints = st.one_of(st.integers(), st.sampled_from([-(2**63), 2**63, 10**400, -1, 0, 1, 2, 3]))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    huge_ints,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["a" * 100_000, "default", "exp", "../../etc", "default/exp", "\x00"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


# data shaped like an Iter8 event's, most often right, each field sometimes wrong-typed or absent
def mostly(right: Any, wrong: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(right), st.just(right), st.just(right), wrong)


event_shaped = st.fixed_dictionaries(
    {"namespace": mostly("default", json_values), "name": mostly("exp", json_values)},
    optional={
        "uid": json_values,
        "iteration": mostly(1, st.one_of(huge_ints, json_values)),
        "kind": mostly("Experiment", json_values),
        "apiVersion": mostly("iter8.tools/v2alpha2", json_values),
        "metadata": json_values,
    },
)
data_values = st.one_of(event_shaped, event_shaped, json_values)
header_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=0, max_size=40
)


def types(accepted: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Mostly a type the function handles; else another phase's, or any text."""
    return st.one_of(
        st.sampled_from(accepted),
        st.sampled_from(accepted),
        st.sampled_from([str(t) for t in EventType]),
        header_text,
    )


@st.composite
def binary_events(draw: st.DrawFn, accepted: tuple[str, ...]) -> tuple[dict[str, str], bytes]:
    headers = {
        "ce-specversion": draw(mostly("1.0", st.sampled_from(["0.3", "2.0", ""]))),
        "ce-type": draw(types(accepted)),
        "ce-source": draw(mostly("/fuzz", header_text)),
        "ce-id": draw(mostly("1", header_text)),
    }
    extensions = ["ce-iteration", "ce-experiment", "ce-subject", "ce-time", "ce-x"]
    headers |= draw(st.dictionaries(st.sampled_from(extensions), header_text, max_size=3))
    headers["Content-Type"] = draw(
        mostly(
            "application/json",
            st.sampled_from(
                ["text/plain", "application/octet-stream", "", "application/json; charset=latin-1"]
            ),
        )
    )
    if draw(st.integers(0, 3)):
        body = json.dumps(draw(data_values)).encode()
    else:
        body = draw(st.binary(max_size=200))
    drop = draw(
        st.one_of(
            st.just(set()), st.just(set()), st.sets(st.sampled_from(list(headers)), max_size=2)
        )
    )
    return {k: v for k, v in headers.items() if k not in drop}, body


@st.composite
def structured_events(draw: st.DrawFn, accepted: tuple[str, ...]) -> tuple[dict[str, str], bytes]:
    attributes: dict[str, Any] = {
        "specversion": draw(mostly("1.0", st.sampled_from(["0.3", 1, None]))),
        "type": draw(st.one_of(types(accepted), json_values)),
        "source": draw(mostly("/fuzz", json_values)),
        "id": draw(mostly("1", json_values)),
    }
    extensions = ["iteration", "experiment", "datacontenttype", "time", "x"]
    attributes |= draw(st.dictionaries(st.sampled_from(extensions), json_values, max_size=3))
    key = draw(mostly("data", st.just("data_base64")))
    attributes[key] = draw(st.one_of(data_values, st.text(max_size=40)))
    drop = draw(st.one_of(st.just(set()), st.sets(st.sampled_from(list(attributes)), max_size=2)))
    body = json.dumps({k: v for k, v in attributes.items() if k not in drop})
    if not draw(st.integers(0, 5)):
        body = body[: draw(st.integers(0, len(body)))]  # cut short
    return {"Content-Type": "application/cloudevents+json"}, body.encode()


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    runtime = make_runtime(tmp_path_factory.mktemp("fuzz") / "store.db", Clock())
    runtime.sink = "http://127.0.0.1:9"  # the tick's POSTs are refused at once, and logged
    setup(runtime, canary())
    use_runtime(runtime)
    apps = {
        phase: functions_framework.create_app(phase, str(FUNCTIONS_DIR / phase / "main.py"), "http")
        for phase in PHASES
    }
    yield {phase: app.test_client() for phase, app in apps.items()}
    use_runtime(None)


def check(client: Any, headers: dict[str, str], body: bytes) -> int:
    response = client.post("/", headers=headers, data=body)
    assert response.status_code < 500, (
        response.status_code,
        headers,
        body[:300],
        response.get_data()[:300],
    )
    return int(response.status_code)


def accepted(phase: str) -> tuple[str, ...]:
    module = importlib.import_module(f"functions.{phase}.main")
    return tuple(str(t) for t in module.ACCEPTS)


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("mode", ["binary", "structured"])
@FUZZ
@given(data=st.data())
def test_random_events_never_get_a_5xx(
    clients: dict[str, Any], phase: str, mode: str, data: st.DataObject
) -> None:
    events = binary_events if mode == "binary" else structured_events
    check(clients[phase], *data.draw(events(accepted(phase))))


DEEP = "[" * 100_000 + "]" * 100_000
NASTY = {
    "structured, nested 100,000 deep": (
        {"Content-Type": "application/cloudevents+json"},
        (
            '{"specversion": "1.0", "type": "t", "source": "/s", "id": "1", "data": ' + DEEP + "}"
        ).encode(),
    ),
    "binary, data nested 100,000 deep": (
        {
            "ce-specversion": "1.0",
            "ce-type": str(EventType.ITERATION_DUE),
            "ce-source": "/s",
            "ce-id": "1",
            "Content-Type": "application/json",
        },
        DEEP.encode(),
    ),
    "binary, an integer of 5,000 digits": (
        {
            "ce-specversion": "1.0",
            "ce-type": str(EventType.ITERATION_DUE),
            "ce-source": "/s",
            "ce-id": "1",
            "Content-Type": "application/json",
        },
        ('{"namespace": "default", "name": "exp", "iteration": ' + "9" * 5000 + "}").encode(),
    ),
    "structured, not an object": ({"Content-Type": "application/cloudevents+json"}, b"[1, 2]"),
    "structured, data_base64 not base64": (
        {"Content-Type": "application/cloudevents+json"},
        b'{"specversion": "1.0", "type": "t", "source": "/s", "id": "1", "data_base64": "%%%"}',
    ),
}


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("case", sorted(NASTY))
def test_nasty_bodies_are_4xx(clients: dict[str, Any], phase: str, case: str) -> None:
    response = clients[phase].post("/", headers=NASTY[case][0], data=NASTY[case][1])
    assert 400 <= response.status_code < 500, response.get_data()[:300]


# each phase's own Iter8 event, so that its refusal is the data's, not the type's
OWN_EVENT = {
    "init": EventType.INITIALIZATION_DUE,
    "analyze": EventType.ITERATION_DUE,
    "route": EventType.ANALYSIS_COMPLETED,
    "promote": EventType.CONCLUDED,
}
NOT_KUBERNETES = [
    ("namespace", "../../kube-system"),
    ("namespace", "Default"),
    ("namespace", "n" * 64),
    ("name", "exp/../other"),
    ("name", "e" * 254),
    ("uid", "u" * 129),
    ("iteration", 2**31),
]


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize(("field", "value"), NOT_KUBERNETES)
def test_an_event_naming_what_kubernetes_cannot_hold_is_400_naming_the_field(
    clients: dict[str, Any], phase: str, field: str, value: object
) -> None:
    """Refused before any store is asked: a namespace like a path, a name over 253 characters,
    an iteration past int32 (before, each was looked up, found absent and answered 202)."""
    data = {"namespace": "default", "name": "exp", "uid": "u-1", "iteration": 1, field: value}
    headers = {
        "ce-specversion": "1.0",
        "ce-type": str(OWN_EVENT[phase]),
        "ce-source": "/s",
        "ce-id": "1",
        "Content-Type": "application/json",
    }
    response = clients[phase].post("/", headers=headers, data=json.dumps(data).encode())
    assert response.status_code == 400, response.get_data()[:300]
    assert f"data.{field}:".encode() in response.get_data()
