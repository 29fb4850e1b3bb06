"""Watching the function processes of the embedded stack, as Knative watches its pods: a
function that exits is started again on its socket after a growing delay, a bounded number of
times; past that the stack has failed, and says which function and how it ended.

The decisions (`next_step`) are pure; `Supervisor` is the thread that polls the processes and
acts on them. Restarts happen on this thread, which lives as long as the stack: a process's
parent-death signal fires when the thread that started it ends (`lifeline`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from iter8.embedded.processes import FunctionProcess

POLL_SECONDS = 0.1


class FunctionFailed(RuntimeError):
    """A function kept exiting: the stack cannot drive experiments any more."""


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 5  # per function, over the stack's life
    first_delay: float = 0.5  # seconds; doubled on each restart of the same function
    max_delay: float = 8.0

    def delay(self, restarts: int) -> float:
        return float(min(self.first_delay * 2**restarts, self.max_delay))


@dataclass(frozen=True)
class Restart:
    at: float  # monotonic time


@dataclass(frozen=True)
class GiveUp:
    reason: str


def next_step(
    phase: str, exit_code: int, restarts: int, now: float, policy: RestartPolicy
) -> Restart | GiveUp:
    """What to do about a function that exited with `exit_code` after `restarts` restarts."""
    how = f"was killed by signal {-exit_code}" if exit_code < 0 else f"exited with {exit_code}"
    if restarts >= policy.max_restarts:
        return GiveUp(f"function {phase} {how}, after {restarts} restarts; giving up")
    return Restart(now + policy.delay(restarts))


@dataclass
class Supervisor:
    functions: list[FunctionProcess]  # the stack's own list: restarts replace its entries
    start_again: Callable[[FunctionProcess], FunctionProcess]
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    report: Callable[[str], None] = print
    restarts: list[int] = field(default_factory=list)  # per index of `functions`
    restarted: list[str] = field(default_factory=list)  # phases, in the order restarted
    failure: str | None = None
    _due: dict[int, float] = field(default_factory=dict)
    _hold: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self.restarts = [0] * len(self.functions)
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()

    def hold(self) -> None:
        """Restart nothing from now on (the stack is stopping), but keep the thread: the
        functions it restarted end when it does."""
        self._hold.set()

    def stop(self) -> None:
        self._hold.set()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def check(self) -> None:
        """Raise FunctionFailed if the supervisor gave up on a function."""
        if self.failure is not None:
            raise FunctionFailed(self.failure)

    def _run(self) -> None:
        """Until `stop`, even after giving up: the thread's end ends what it restarted."""
        while not self._stop.wait(POLL_SECONDS):
            if self.failure is None:
                self.poll(time.monotonic())

    def poll(self, now: float) -> None:
        for index, function in enumerate(self.functions):
            code = function.process.poll()
            if code is None or self._hold.is_set():
                continue
            if index not in self._due:
                step = next_step(function.phase, code, self.restarts[index], now, self.policy)
                if isinstance(step, GiveUp):
                    self.failure = step.reason
                    self.report(step.reason)
                    return
                self._due[index] = step.at
                self.report(
                    f"function {function.phase} (pid {function.process.pid}) ended with {code}; "
                    f"restarting ({self.restarts[index] + 1}/{self.policy.max_restarts})"
                )
            if now >= self._due[index]:
                del self._due[index]
                self.restarts[index] += 1
                self.functions[index] = self.start_again(function)
                self.restarted.append(function.phase)  # once its replacement is in the list
