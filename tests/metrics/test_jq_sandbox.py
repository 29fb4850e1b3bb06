"""A jqExpression is untrusted code: one that never ends or grows without bound fails its own
metric's fetch, within the sandbox's limits, and the next fetch still works. Real worker
processes, real jq."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iter8.metrics import jq_sandbox
from iter8.metrics.registry import fetch_all
from tests.metrics.backend import Answer, Backend
from tests.metrics.builders import metric, version

NEVER_ENDING = ["[range(1e8)] | length", "def f: f; f", "def f: [.] | f; f", "repeat(1) | empty"]


@pytest.fixture
def sandbox() -> Iterator[jq_sandbox.JqSandbox]:
    box = jq_sandbox.JqSandbox(workers=2, timeout=0.5, memory=128 * 2**20)
    yield box
    box.close()


@pytest.mark.parametrize("expression", NEVER_ENDING)
def test_an_expression_that_never_ends_is_stopped(
    sandbox: jq_sandbox.JqSandbox, expression: str
) -> None:
    with pytest.raises(jq_sandbox.JqFailed, match="stopped after"):
        sandbox.evaluate(expression, "{}")
    assert sandbox.evaluate(".a", '{"a": 2}') == {"value": 2}  # a fresh worker took its place


def test_an_expression_that_allocates_gigabytes_is_stopped(sandbox: jq_sandbox.JqSandbox) -> None:
    with pytest.raises(jq_sandbox.JqFailed, match="128 MiB"):
        sandbox.evaluate('"x" * 1e9 | length', "{}")
    assert sandbox.evaluate(".a", '{"a": 3}') == {"value": 3}


def test_workers_are_reused_across_evaluations(sandbox: jq_sandbox.JqSandbox) -> None:
    for n in range(20):
        assert sandbox.evaluate(".n", f'{{"n": {n}}}') == {"value": n}
    assert sandbox.started == 1


def _fetch_all_finishes(metrics: list, timeout: float) -> dict:  # type: ignore[type-arg]
    """fetch_all on a thread; fails (instead of hanging the suite) if it does not return."""
    result: dict = {}  # type: ignore[type-arg]
    thread = threading.Thread(
        target=lambda: result.update(fetch_all(metrics, [version("v1")], elapsed_seconds=1)),
        daemon=True,
    )
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "fetch_all did not return: jq ran without a bound"
    return result


def test_a_runaway_expression_costs_its_metric_only(http_backend: Backend) -> None:
    http_backend.routes["/q"] = Answer(body='{"value": 7}')
    url = f"{http_backend.url}/q"
    runaway = metric("runaway", urlTemplate=url, jqExpression="def f: f; f")
    huge = metric("huge", urlTemplate=url, jqExpression="[range(1e8)] | length")
    fine = metric("fine", urlTemplate=url, jqExpression=".value")

    result = _fetch_all_finishes([runaway, huge, fine], timeout=60)

    assert result["ns/fine"]["v1"].value == 7
    for key in ("ns/runaway", "ns/huge"):
        observation = result[key]["v1"]
        assert observation.outcome == "error"
        assert "stopped" in (observation.message or "")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()  # a zombie is dead too
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux")
def test_a_worker_never_outlives_its_parent() -> None:
    """The parent is killed (SIGKILL: no clean-up runs) while its worker is busy."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys, threading
                from iter8.metrics import jq_sandbox
                box = jq_sandbox.JqSandbox(timeout=600)
                box.evaluate(".", "1")
                print(box._idle[0].process.pid, flush=True)
                box.evaluate("def f: f; f", "1")
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    worker = int(parent.stdout.readline())
    assert _alive(worker)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker), "the jq worker outlived its parent"
