"""Processes by pid, read from /proc (Linux): who descends from whom, and whether a process
recorded earlier is still the same live process (a pid may be reused: the start time tells)."""

from __future__ import annotations

import time
from pathlib import Path

PROC = Path("/proc")
Identity = tuple[int, int]  # (pid, start time in clock ticks)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time), or None if there is no such process."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def identity(pid: int) -> Identity | None:
    stat = _stat(pid)
    return None if stat is None else (pid, stat[2])


def descendants(root: int) -> set[Identity]:
    """Every live process below `root`, at any depth."""
    parents: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        stat = _stat(int(entry.name)) if entry.name.isdigit() else None
        if stat is not None and stat[0] != "Z":
            parents.setdefault(stat[1], []).append(int(entry.name))
    found: set[Identity] = set()
    waiting = [root]
    while waiting:
        for child in parents.get(waiting.pop(), []):
            if (ident := identity(child)) is not None:
                found.add(ident)
                waiting.append(child)
    return found


def alive(process: Identity) -> bool:
    stat = _stat(process[0])
    return stat is not None and stat[2] == process[1] and stat[0] != "Z"


def children(pid: int) -> list[int]:
    return [p for p, _ in descendants(pid) if (s := _stat(p)) is not None and s[1] == pid]


def wait_gone(processes: set[Identity], timeout: float) -> set[Identity]:
    """The ones still alive after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := {p for p in processes if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
