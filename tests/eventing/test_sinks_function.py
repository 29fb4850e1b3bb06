"""The sink as a functions-framework function (how a Knative Service runs it), configured by
its environment."""

from __future__ import annotations

import hashlib
import hmac
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import functions_framework
import pytest
from cloudevents.conversion import to_binary

from eventing.sinks.app import Dispatcher
from iter8.events import EventType, ExperimentRef, experiment_event
from tests.eventing.test_sources_capture import Capture

MAIN = Path(__file__).resolve().parents[2] / "eventing" / "sinks" / "main.py"
SECRET = "fn-secret-7"


@pytest.fixture
def downstream() -> Iterator[Capture]:
    with Capture(default=200) as receiver:
        yield receiver


def _served_dispatchers() -> list[Dispatcher]:
    """The dispatchers of the copy of main.py that functions-framework loaded."""
    module = next(m for m in sys.modules.values() if getattr(m, "__file__", None) == str(MAIN))
    return cast(list[Dispatcher], module._dispatchers())


def test_functions_framework_serves_the_named_notifier(
    monkeypatch: pytest.MonkeyPatch, downstream: Capture
) -> None:
    monkeypatch.setenv("ITER8_NOTIFIER", "webhook")
    monkeypatch.setenv("ITER8_WEBHOOK_URL", downstream.url)
    monkeypatch.setenv("ITER8_WEBHOOK_SECRET", SECRET)
    app = functions_framework.create_app(target="notify", source=str(MAIN))
    event = experiment_event(
        EventType.FAILED, "route", ExperimentRef(namespace="n", name="e"), 2, reason="Boom"
    )
    headers, body = to_binary(event)
    response = app.test_client().post("/", headers=headers, data=body)
    assert (response.status_code, response.data) == (202, b"")
    [request] = downstream.wait_for(1)
    digest = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-iter8-signature"] == f"sha256={digest}"
    for dispatcher in _served_dispatchers():
        dispatcher.close()


def test_an_unknown_or_unconfigured_notifier_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from eventing.sinks import main

    monkeypatch.setenv("ITER8_NOTIFIER", "pager")
    with pytest.raises(RuntimeError, match="no notifier 'pager'"):
        main._from_env()
    monkeypatch.setenv("ITER8_NOTIFIER", "slack")
    monkeypatch.delenv("ITER8_SLACK_WEBHOOK_URL", raising=False)
    with pytest.raises(RuntimeError, match="variables are not set"):
        main._from_env()
    monkeypatch.delenv("ITER8_NOTIFIER")
    monkeypatch.delenv("ITER8_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("ITER8_CONSOLE", raising=False)
    assert [n.name for n in main._from_env()] == ["console"]
