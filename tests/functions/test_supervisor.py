"""The supervisor of the embedded stack: restarts with backoff, bounded, then a failure that
names the function; and a run waiting on a stack that gave up ends with that reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from iter8.embedded import processes
from iter8.embedded.run import wait
from iter8.embedded.stack import EmbeddedStack, StackOptions
from iter8.embedded.supervisor import (
    FunctionFailed,
    GiveUp,
    Restart,
    RestartPolicy,
    Supervisor,
    next_step,
)
from iter8.events import ExperimentRef
from iter8.store import EXPERIMENTS
from iter8.store.sqlite import SqliteStore
from tests.functions.harness import canary


def test_restarts_back_off_and_are_bounded() -> None:
    policy = RestartPolicy(max_restarts=3, first_delay=0.5, max_delay=1.5)
    assert [next_step("route", 1, n, 100.0, policy) for n in range(3)] == [
        Restart(100.5),
        Restart(101.0),
        Restart(101.5),
    ]
    assert next_step("route", -9, 3, 100.0, policy) == GiveUp(
        "function route was killed by signal 9, after 3 restarts; giving up"
    )


def _exits(phase: str, listener: object) -> processes.FunctionProcess:
    """A process that ends at once with 3, standing in for a function that cannot start."""
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    return processes.FunctionProcess(phase, listener, process)  # type: ignore[arg-type]


def test_a_function_that_keeps_exiting_is_given_up_on_with_the_reason() -> None:
    said: list[str] = []
    functions = [_exits("route", None)]
    supervisor = Supervisor(
        functions,
        lambda old: _exits(old.phase, old.listener),
        RestartPolicy(max_restarts=2, first_delay=0.01),
        said.append,
    )
    supervisor.start()
    try:
        deadline = time.monotonic() + 20
        while supervisor.failure is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        supervisor.stop()
        for function in functions:
            function.process.wait()
    assert supervisor.restarted == ["route", "route"]
    assert said[-1] == "function route exited with 3, after 2 restarts; giving up"
    assert said[0].startswith("function route (pid ") and said[0].endswith("restarting (1/2)")
    with pytest.raises(FunctionFailed, match="function route exited with 3"):
        supervisor.check()


def test_waiting_on_a_stack_that_gave_up_ends_with_the_reason(tmp_path: Path) -> None:
    """The hang of before: analyze killed with no restart left, and `iter8 run` waited until
    --timeout (for ever without one), saying nothing. Now the wait ends, naming the function."""
    store = SqliteStore(tmp_path / "store.db")
    options = StackOptions(
        store=f"sqlite:{tmp_path / 'store.db'}",
        tick=timedelta(seconds=0.3),
        log_dir=tmp_path / "logs",
        restarts=RestartPolicy(max_restarts=0),
        report=lambda _: None,
        namespace="elsewhere",  # the experiment below is left alone: it never completes
    )
    store.create(EXPERIMENTS, canary())
    with EmbeddedStack(store, options) as stack:
        (analyze,) = [f for f in stack.functions if f.phase == "analyze"]
        os.kill(analyze.process.pid, signal.SIGKILL)
        started = time.monotonic()
        never = ExperimentRef(namespace="default", name="exp")
        with pytest.raises(FunctionFailed, match="function analyze was killed by signal 9"):
            wait(store, [never], lambda _: None, timeout=30, health=stack.check)
        assert time.monotonic() - started < 5


def test_what_the_supervisor_restarted_lives_until_the_supervisor_stops(tmp_path: Path) -> None:
    """A parent-death signal fires when the *thread* that started the process ends: a function
    restarted by the supervisor must outlive `hold` (the stack's drain, before the functions are
    stopped), and end with `stop` at the latest, if nothing else stopped it."""
    env = {"ITER8_STORE": f"sqlite:{tmp_path / 'store.db'}"}
    listener = processes.listen()
    first = processes.start("route", env, listener, tmp_path / "route.log")
    functions = [first]

    def start_again(old: processes.FunctionProcess) -> processes.FunctionProcess:
        old.stop()
        return processes.start(old.phase, env, old.listener, old.log)

    supervisor = Supervisor(functions, start_again, RestartPolicy(first_delay=0.01), print)
    try:
        processes.wait_until_serving([first])
        supervisor.start()
        os.kill(first.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while supervisor.restarted != ["route"] and time.monotonic() < deadline:
            time.sleep(0.05)
        (restarted,) = functions
        assert restarted is not first
        processes.wait_until_serving([restarted])
        supervisor.hold()
        time.sleep(0.5)
        assert restarted.process.poll() is None, "killed when the supervisor held"
        supervisor.stop()
        assert restarted.process.wait(timeout=15) is not None  # its lifeline: the thread ended
    finally:
        supervisor.stop()
        for function in functions:
            function.stop()
        listener.close()
