"""jq run by a pool of sandboxed worker processes (`jq_worker`), reused across fetches.

A jqExpression is untrusted code that may never end or may allocate gigabytes; in-process, it
would freeze analyze for every experiment and outlive `iter8 run`. A worker has a memory limit
and a CPU limit, dies with this process, and is killed at the evaluation's deadline; a killed
worker is replaced on the next evaluation. Workers persist because starting one (a Python
interpreter importing jq) costs tens of milliseconds, while a round trip to a running one costs
tens of microseconds (`python -m bench.jq`).

Workers are started from one long-lived thread: the parent-death signal fires when the *thread*
that forked the worker ends, and fetches run on short-lived pool threads.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

DEFAULT_TIMEOUT = 2.0  # seconds of wall-clock time per evaluation, plus PER_MIB
PER_MIB = 1.0  # seconds more per MiB of document: moving and parsing it (a loaded machine)
DEFAULT_MEMORY = 256 * 2**20  # bytes of address space per worker
DEFAULT_WORKERS = 4
_STARTUP = 30.0  # seconds a worker may take to start (a loaded machine)
MAX_DOCUMENT_MIB = 10  # the metric fetch's bound on an answer (transport.MAX_BODY)
_HEADER = struct.Struct(">I")
_MAX_REPLY = 2**16  # a reply is a number or a short excerpt


class JqFailed(Exception):
    """The evaluation did not give an answer: it was stopped, or the worker could not run."""


class _Expired(Exception):
    pass


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, memory: int, cpu_seconds: int) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "iter8.metrics.jq_worker",
                str(os.getpid()),
                str(memory),
                str(cpu_seconds),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # jq's own "out of memory" line; the exit status says it
            start_new_session=True,  # Ctrl-C in a terminal is for the parent, which ends us
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in, self._out = self.process.stdin.fileno(), self.process.stdout.fileno()
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)

    def ask(self, request: bytes, deadline: float) -> dict[str, Any]:
        """The reply; `_Expired` past the deadline, `OSError`/`EOFError` if the worker died."""
        self._write(_HEADER.pack(len(request)) + request, deadline)
        (length,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
        if length > _MAX_REPLY:
            raise EOFError("reply too long")
        reply: dict[str, Any] = json.loads(self._read(length, deadline))
        return reply

    def _wait(self, fd: int, writing: bool, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Expired
        ready = (
            select.select([], [fd], [], remaining)
            if writing
            else select.select([fd], [], [], remaining)
        )
        if not any(ready):
            raise _Expired

    def _write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            self._wait(self._in, True, deadline)
            try:
                view = view[os.write(self._in, view) :]
            except BlockingIOError:
                continue

    def _read(self, size: int, deadline: float) -> bytes:
        chunks, missing = [], size
        while missing:
            self._wait(self._out, False, deadline)
            try:
                chunk = os.read(self._out, missing)
            except BlockingIOError:
                continue
            if not chunk:
                raise EOFError("the worker exited")
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def kill(self) -> int:
        """Kill the worker (if still running); its exit status."""
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        return code


def _started(memory: int, cpu_seconds: int) -> _Worker:
    worker = _Worker(memory, cpu_seconds)
    try:
        if worker.ask(b'{"expression": ".", "document": "1"}', time.monotonic() + _STARTUP) != {
            "value": 1
        }:
            raise EOFError("unexpected answer")
    except (OSError, EOFError, ValueError, _Expired) as error:
        worker.kill()
        raise JqFailed(f"the jq worker did not start: {error or type(error).__name__}") from None
    return worker


class JqSandbox:
    """Up to `workers` evaluations at once, each within `timeout` seconds (plus `PER_MIB` per
    MiB of document) and `memory` bytes."""

    def __init__(
        self,
        workers: int = DEFAULT_WORKERS,
        timeout: float = DEFAULT_TIMEOUT,
        memory: int = DEFAULT_MEMORY,
    ) -> None:
        self.timeout, self.memory = timeout, memory
        self._cpu = math.ceil(timeout + PER_MIB * MAX_DOCUMENT_MIB)
        self._slots = threading.BoundedSemaphore(workers)
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="jq-spawner")
        self.started = 0  # workers started so far (a figure for tests and benchmarks)

    def evaluate(self, expression: str, document: str) -> dict[str, Any]:
        """The worker's reply for `expression` on the JSON text `document` (see `jq_worker`)."""
        request = json.dumps({"expression": expression, "document": document}).encode()
        allowed = self.timeout + PER_MIB * len(request) / 2**20
        if not self._slots.acquire(timeout=allowed):
            raise JqFailed(f"no jq worker was free within {allowed:.3g} s")
        try:
            worker = self._take()
            try:
                reply = worker.ask(request, time.monotonic() + allowed)
            except _Expired:
                worker.kill()
                raise JqFailed(
                    f"stopped after {allowed:.3g} s (an expression that does not end?)"
                ) from None
            except (OSError, EOFError, ValueError):
                raise JqFailed(self._why_dead(worker.kill())) from None
            with self._lock:
                self._idle.append(worker)
            return reply
        finally:
            self._slots.release()

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.process.poll() is None:
                    return worker
                worker.kill()
        worker = self._spawner.submit(_started, self.memory, self._cpu).result()
        with self._lock:
            self.started += 1
        return worker

    def _why_dead(self, code: int) -> str:
        if code == -signal.SIGXCPU:
            return f"stopped after {self._cpu} s of CPU (an expression that does not end?)"
        if code in (-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGBUS, 1):
            return f"stopped: it needed more than {self.memory // 2**20} MiB of memory"
        return f"the jq worker died (exit status {code})"

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()
        self._spawner.shutdown(wait=False)


_shared: JqSandbox | None = None
_shared_lock = threading.Lock()


def shared() -> JqSandbox:
    """The process's sandbox, made on first use and closed at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = JqSandbox()
            atexit.register(_shared.close)
        return _shared
