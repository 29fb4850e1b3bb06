"""The four functions as functions-framework processes on loopback ports, as Knative runs them:
one process per function, configured by environment variables, talking HTTP.

The stack binds each function's listening socket itself and hands it to the process
(`iter8.embedded.listener`), rather than picking a free port for the process to bind later: a
port found free can be taken before the process binds it — by another run, or as the local port
of any outgoing connection, both drawn from the same ephemeral range — and the function would
then never serve. A socket held by the stack also keeps its port across a restart.

Each process leads a process group of its own (gunicorn's arbiter and its worker), so that
Ctrl-C in a terminal reaches `iter8 run` alone, which then stops the functions in order, and a
stop can end the whole group; and it ends with the stack's process (`lifeline`), so nothing is
left behind when that process is killed.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import functions

PHASES = ("init", "analyze", "route", "promote")
FUNCTIONS_DIR = Path(functions.__file__).parent
BACKLOG = 128


def listen() -> socket.socket:
    """A listening socket on a free loopback port, inheritable by a child process."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


@dataclass
class FunctionProcess:
    phase: str
    listener: socket.socket  # held by the stack; the process serves on it
    process: subprocess.Popen[bytes]
    log: Path | None = None

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 5) -> None:
        """End this process and its group (by its own handle and pid, never by name)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # a worker whose arbiter was killed ends by its parent-death signal; this is the fallback
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def stop_all(processes: list[FunctionProcess], timeout: float = 5) -> None:
    """Ask every process to end first, then wait for each: they shut down side by side."""
    for item in processes:
        if item.process.poll() is None:
            item.process.terminate()
    for item in processes:
        item.stop(timeout)


def open_private(path: Path, mode: str) -> IO[Any]:
    """`path` opened for appending, created readable by its owner alone: logs may quote what
    the experiments hold."""
    descriptor = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    return os.fdopen(descriptor, mode, **({} if "b" in mode else {"buffering": 1}))


def source_of(phase: str) -> Path:
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; one of {', '.join(PHASES)}")
    return FUNCTIONS_DIR / phase / "main.py"


def start(
    phase: str, env: dict[str, str], listener: socket.socket, log: Path | None = None
) -> FunctionProcess:
    """The function served by functions-framework on `listener`, which the process inherits."""
    fd = listener.fileno()
    argv = [
        sys.executable, "-m", "iter8.embedded.listener",
        "--target", phase, "--source", str(source_of(phase)), "--fd", str(fd),
        "--parent", str(os.getpid()),
    ]  # fmt: skip
    output = open_private(log, "ab") if log is not None else subprocess.DEVNULL
    port = str(listener.getsockname()[1])
    process = subprocess.Popen(
        argv,
        env={**os.environ, **env, "PORT": port},
        stdout=output,
        stderr=subprocess.STDOUT,
        pass_fds=(fd,),
        process_group=0,
    )
    return FunctionProcess(phase, listener, process, log)


def wait_until_serving(processes: list[FunctionProcess], timeout: float = 30) -> None:
    """Block until every process answers its liveness probe; raise if one dies or it takes too
    long. (A connection alone proves nothing: the kernel accepts it on the stack's socket.)"""
    deadline = time.monotonic() + timeout
    waiting = list(processes)
    while waiting:
        for item in list(waiting):
            if item.process.poll() is not None:
                raise RuntimeError(f"function {item.phase} exited with {item.process.returncode}")
            if serving(item.port):
                waiting.remove(item)
        if waiting and time.monotonic() > deadline:
            raise TimeoutError(
                f"functions not serving after {timeout}s: {[w.phase for w in waiting]}"
            )
        if waiting:
            time.sleep(0.05)


def serving(port: int) -> bool:
    """Whether a function on 127.0.0.1:`port` answers its liveness probe."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()
