"""A child process that ends when its parent does, however the parent ends (even by SIGKILL).

On Linux the child asks the kernel (`prctl(PR_SET_PDEATHSIG)`) for a signal when its parent
goes; it then checks that the parent did not already go before the request (the race every use
of PR_SET_PDEATHSIG has). The signal comes when the parent *thread* that started the child
ends, so the embedded stack starts its functions from threads that live as long as it does.
Elsewhere (macOS, the BSDs) there is no such request: a daemon thread polls the parent's pid
once a second and signals this process when it changes, so a child outlives its parent by up
to a second there, and not at all if this process is stopped (SIGSTOP) meanwhile.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_SECONDS = 1.0


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> None:
    """Have `sig` sent to this process when its parent ends; if `parent` (the pid the parent
    had) is gone already, send it now."""
    expected = os.getppid() if parent is None else parent
    if not _request_signal(sig):
        threading.Thread(target=_watch, args=(expected, sig), name="lifeline", daemon=True).start()
    if os.getppid() != expected:
        os.kill(os.getpid(), sig)


def _request_signal(sig: int) -> bool:
    """Linux's parent-death signal; False where it does not exist."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    return True


def _watch(parent: int, sig: int) -> None:
    while os.getppid() == parent:
        threading.Event().wait(POLL_SECONDS)
    os.kill(os.getpid(), sig)
