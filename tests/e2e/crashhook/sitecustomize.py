"""Test-only fault injection, loaded by every function process of the crash test (this directory
is put first on `PYTHONPATH`; product code has no hook).

`E2E_CRASH=init:2,analyze:2,route:1` makes the function serving `init` die right after its 2nd
successful `functions.state.write_status` to its store (not the warm-up's scratch store), and so
on, before it can reply. The whole function
dies, as a pod does: SIGKILL to the functions-framework process (gunicorn's arbiter, which would
otherwise fork a fresh worker at once), then `os._exit` of the worker, with no cleanup. Each
phase crashes once: a marker file `<phase>.crashed` in `E2E_CRASH_DIR` is made just before, and
the restarted process, finding it, carries on normally.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any


def _phase() -> str | None:
    """The function this process serves: functions-framework's `--target`."""
    argv = sys.argv
    return argv[argv.index("--target") + 1] if "--target" in argv[:-1] else None


def _install(plan: dict[str, int], directory: Path) -> None:
    from functions import state

    original = state.write_status
    writes = 0

    def write_status(*args: Any, **kwargs: Any) -> Any:
        nonlocal writes
        written = original(*args, **kwargs)
        phase = _phase()
        store = args[0] if args else kwargs.get("store")
        own = os.environ.get("ITER8_STORE", "").removeprefix("sqlite:")
        if getattr(store, "path", own) != own:
            return written  # the warm-up's rehearsal, on a scratch store (functions.warmup)
        if phase in plan:
            writes += 1
            marker = directory / f"{phase}.crashed"
            if writes == plan[phase] and not marker.exists():
                marker.write_text(f"killed after status write {writes}\n")
                if os.getppid() != 1 and "gunicorn" in sys.modules:
                    os.kill(os.getppid(), signal.SIGKILL)  # the arbiter: the whole function
                os._exit(1)
        return written

    state.write_status = write_status


def _plan(spec: str) -> dict[str, int]:
    pairs = (item.split(":") for item in spec.split(",") if item)
    return {phase: int(count) for phase, count in pairs}


if os.environ.get("E2E_CRASH"):
    _install(_plan(os.environ["E2E_CRASH"]), Path(os.environ["E2E_CRASH_DIR"]))
