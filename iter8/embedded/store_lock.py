"""One `iter8 run` at a time drives a store file.

A second run on the same `--store` would drive the same experiments beside the first (every
phase asked for twice, every notification sent twice) while saying it continues a stopped run.
The lock is an advisory `flock` on a file beside the store (`<store>.lock`), not on the store
itself: SQLite locks the store with POSIX record locks, which `flock` emulation on network file
systems would collide with. The kernel drops the lock when the process ends, however it ends
(SIGKILL, a reboot), so a stopped run never leaves the store locked; the functions do not
inherit it (Python's descriptors are close-on-exec), so none of them can outlive it holding it.
The file holds the holder's pid, for the message; it is left in place when the run ends
(removing it would race with a run that has it open and is about to lock it).

Holding it also tells a run that any claim (`status.inProgress`) it finds in the store was left
by a stopped run, and can be cleared at once rather than waited out (`embedded.run.release_claims`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class StoreBusy(Exception):
    """Another process drives the store; the message says which and what to do."""


def lock_path(store: Path) -> Path:
    return store.with_name(store.name + ".lock")


@contextlib.contextmanager
def hold(store: Path) -> Iterator[None]:
    """Hold the store's run lock while the block runs; `StoreBusy` at once if another holds it."""
    path = lock_path(store)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            raise StoreBusy(
                f"{store}: another iter8 run (pid {holder}) is driving the experiments of this "
                "store; wait for it to end, or stop it (this command then continues its "
                "experiments where they stand)"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # drops the lock
