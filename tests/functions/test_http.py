"""The functions as Knative calls them: functions-framework apps, HTTP in and out."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import functions_framework
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent, from_http

from functions.observability import JsonFormatter, configure_logging, event_context
from functions.runtime import use_runtime
from iter8.embedded.processes import FUNCTIONS_DIR
from iter8.events import EventType, ExperimentRef, experiment_event
from iter8.store import EXPERIMENTS
from tests.functions.harness import Clock, add_event, canary, make_runtime, setup


@pytest.fixture
def client(tmp_path: Path):  # type: ignore[no-untyped-def]
    runtime = make_runtime(tmp_path / "store.db", Clock())
    setup(runtime, canary())
    use_runtime(runtime)
    app = functions_framework.create_app("init", str(FUNCTIONS_DIR / "init" / "main.py"), "http")
    yield app.test_client()
    use_runtime(None)


def test_a_reply_is_a_binary_cloudevent(client) -> None:  # type: ignore[no-untyped-def]
    headers, body = to_binary(add_event(canary()))
    response = client.post("/", headers=headers, data=body)
    assert response.status_code == 200
    reply = from_http(dict(response.headers), response.get_data())
    assert reply["type"] == EventType.INITIALIZED
    assert reply["source"] == "/iter8/init" and reply["subject"] == "default/exp"
    assert reply["experiment"] == "default/exp" and reply["iteration"] == "0"
    assert response.headers["Content-Type"] == "application/json"


def test_structured_mode_is_accepted_and_nothing_to_do_is_202_with_no_body(client) -> None:  # type: ignore[no-untyped-def]
    headers, body = to_structured(add_event(canary()))
    assert client.post("/", headers=headers, data=body).status_code == 200
    again = client.post("/", headers=headers, data=body)  # the same add again: nothing to do
    assert again.status_code == 202 and again.get_data() == b""


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "application/json"}, b'{"hello": 1}'),
        ({"ce-specversion": "1.0", "ce-type": "x"}, b"{}"),
        ({"Content-Type": "application/cloudevents+json"}, b"not json"),
    ],
)
def test_what_is_not_a_cloudevent_is_400(client, headers: dict[str, str], body: bytes) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/", headers=headers, data=body).status_code == 400


def test_an_event_naming_no_experiment_is_400_not_retried(client) -> None:  # type: ignore[no-untyped-def]
    event = CloudEvent({"type": str(EventType.INITIALIZATION_DUE), "source": "/t"}, {"name": ""})
    headers, body = to_binary(event)
    response = client.post("/", headers=headers, data=body)
    assert response.status_code == 400 and b"data." in response.get_data()


def test_probes_and_metrics(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    headers, body = to_binary(add_event(canary()))
    client.post("/", headers=headers, data=body)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert (
        'iter8_events_total{outcome="replied",phase="init",type="dev.knative.apiserver.ref.add"}'
        in metrics
    )
    assert "iter8_handler_seconds_bucket" in metrics
    assert client.get("/nothing").status_code == 404
    assert client.put("/").status_code == 405


def test_log_lines_are_json_with_the_event_context() -> None:
    record = logging.LogRecord(
        "iter8.functions", logging.INFO, __file__, 1, "handled %s", ("x",), None
    )
    with event_context(event="id-1", experiment="default/exp", iteration="3", type="t"):
        line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "handled x" and line["level"] == "info"
    assert (line["event"], line["experiment"], line["iteration"]) == ("id-1", "default/exp", "3")
    outside = json.loads(JsonFormatter().format(record))
    assert "experiment" not in outside


def test_a_log_record_gathers_only_what_the_lines_print() -> None:
    """No walk up the stack for the caller's file and line, no thread or process names: neither
    format prints them, and the walk was a quarter of a line's cost (one line per event)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging._srcfile, logging.logThreads)  # type: ignore[attr-defined]
    saved_processes = (logging.logProcesses, logging.logMultiprocessing)
    logger, keep = logging.getLogger("iter8.test.records"), Keep()
    try:
        configure_logging()
        logger.addHandler(keep)
        logger.warning("one %s", "line")
    finally:
        logger.removeHandler(keep)
        root.handlers[:], _, logging._srcfile, logging.logThreads = saved  # type: ignore[attr-defined]
        root.setLevel(saved[1])
        logging.logProcesses, logging.logMultiprocessing = saved_processes
    (record,) = records
    assert record.getMessage() == "one line"
    assert (record.lineno, record.threadName, record.processName) == (0, None, None)


def _client(phase: str):  # type: ignore[no-untyped-def]
    app = functions_framework.create_app(phase, str(FUNCTIONS_DIR / phase / "main.py"), "http")
    return app.test_client()


WRONG_TYPES = {
    "init": EventType.ITERATION_DUE,
    "analyze": EventType.ANALYSIS_COMPLETED,
    "route": EventType.CONCLUDED,
    "promote": EventType.ANALYSIS_COMPLETED,
}


@pytest.mark.parametrize("phase", sorted(WRONG_TYPES))
def test_a_type_the_function_does_not_handle_is_400_and_changes_nothing(
    tmp_path: Path, phase: str
) -> None:
    """An event with valid data but another phase's type (a Trigger misconfigured): analyze
    and route used to act on it as if it were theirs."""
    runtime = make_runtime(tmp_path / "store.db", Clock())
    setup(runtime, canary())
    use_runtime(runtime)
    try:
        ref = ExperimentRef(namespace="default", name="exp", uid="")
        before = runtime.store.get(EXPERIMENTS, "default", "exp")
        headers, body = to_binary(experiment_event(WRONG_TYPES[phase], "test", ref, 1))
        response = _client(phase).post("/", headers=headers, data=body)
        assert response.status_code == 400
        assert b"does not handle events of type" in response.get_data()
        assert runtime.store.get(EXPERIMENTS, "default", "exp") == before
    finally:
        use_runtime(None)


def test_init_leaves_experiments_outside_its_watched_namespace_alone(tmp_path: Path) -> None:
    """ITER8_WATCH_NAMESPACE limited the tick only: init still initialized an experiment of
    any namespace that an event named."""
    runtime = make_runtime(tmp_path / "store.db", Clock())
    runtime.namespace = "elsewhere"
    setup(runtime, canary())
    use_runtime(runtime)
    try:
        headers, body = to_binary(add_event(canary()))
        response = _client("init").post("/", headers=headers, data=body)
        assert response.status_code == 202
        assert not runtime.store.get(EXPERIMENTS, "default", "exp").get("status")
    finally:
        use_runtime(None)
