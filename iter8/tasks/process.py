"""Run a program (an argv list, never a shell string) with a deadline that really holds.

The child starts a new session, so on timeout the whole process group is killed: a script's
own children (a `sleep`, a `kubectl wait`) die with it instead of keeping the output pipes open
and the task waiting.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

OUTPUT_LIMIT = 4000  # characters kept of stdout and of stderr


@dataclass(frozen=True)
class Finished:
    argv: tuple[str, ...]
    returncode: int | None  # None: killed at the deadline
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def output(self) -> str:
        """stdout then stderr, each truncated, for a task result."""
        parts = [truncate(self.stdout)]
        if self.stderr:
            parts.append(f"--- stderr ---\n{truncate(self.stderr)}")
        return "\n".join(p for p in parts if p)


def find_program(name: str, env: Mapping[str, str]) -> str | None:
    """The program's path on the PATH the process will get, or None."""
    return shutil.which(name, path=env.get("PATH", os.defpath))


def truncate(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """The end of `text` (where errors are), marked when something was cut."""
    if len(text) <= limit:
        return text
    return f"[… {len(text) - limit} characters cut]\n{text[-limit:]}"


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    stdin: bytes | None = None,
) -> Finished:
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(stdin, timeout=timeout)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        _kill_group(process)
        try:
            out, err = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a grandchild left the group and holds the pipes
            out, err = b"", b""
            process.kill()
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()
            process.wait()
        code = None
    return Finished(tuple(argv), code, _text(out), _text(err))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended just now
        os.killpg(process.pid, signal.SIGKILL)


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def describe_failure(what: str, finished: Finished, timeout: float) -> str:
    """One line for the task's failure message; the output goes with it separately."""
    if finished.timed_out:
        return f"{what} did not finish within {timeout:g}s and was killed"
    last = (finished.stderr.strip() or finished.stdout.strip()).splitlines()[-1:] or [""]
    tail = f": {last[0][:300]}" if last[0] else ""
    return f"{what} exited with status {finished.returncode}{tail}"
