"""The four functions as functions-framework processes on loopback ports, as Knative runs them:
one process per function, configured by environment variables, talking HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import functions

PHASES = ("init", "analyze", "route", "promote")
FUNCTIONS_DIR = Path(functions.__file__).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class FunctionProcess:
    phase: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 5) -> None:
        """End this process (only it: by its own handle, never by name)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def stop_all(processes: list[FunctionProcess], timeout: float = 5) -> None:
    """Ask every process to end first, then wait for each: they shut down side by side."""
    for item in processes:
        if item.process.poll() is None:
            item.process.terminate()
    for item in processes:
        item.stop(timeout)


def command(phase: str, port: int) -> list[str]:
    """`functions-framework` serving `functions/<phase>/main.py` on 127.0.0.1."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; one of {', '.join(PHASES)}")
    source = FUNCTIONS_DIR / phase / "main.py"
    return [
        sys.executable, "-m", "functions_framework",
        "--target", phase, "--source", str(source), "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip


def start(
    phase: str, env: dict[str, str], port: int | None = None, log: Path | None = None
) -> FunctionProcess:
    port = port or free_port()
    output = log.open("ab") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        command(phase, port),
        env={**os.environ, **env, "PORT": str(port)},
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    return FunctionProcess(phase, port, process)


def wait_until_serving(processes: list[FunctionProcess], timeout: float = 30) -> None:
    """Block until every process accepts connections; raise if one dies or it takes too long."""
    deadline = time.monotonic() + timeout
    waiting = list(processes)
    while waiting:
        for item in list(waiting):
            if item.process.poll() is not None:
                raise RuntimeError(f"function {item.phase} exited with {item.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", item.port), timeout=0.2):
                    waiting.remove(item)
            except OSError:
                pass
        if waiting and time.monotonic() > deadline:
            raise TimeoutError(
                f"functions not serving after {timeout}s: {[w.phase for w in waiting]}"
            )
        if waiting:
            time.sleep(0.05)
