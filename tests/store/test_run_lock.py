"""One `iter8 run` at a time drives a store file (`embedded.store_lock`)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from iter8.embedded.store_lock import StoreBusy, hold, lock_path


def test_a_second_holder_is_refused_naming_the_first(tmp_path: Path) -> None:
    store = tmp_path / "run.db"
    busy = rf"another iter8 run \(pid {os.getpid()}\)"
    with hold(store), pytest.raises(StoreBusy, match=busy), hold(store):
        pass
    with hold(store):  # released with the block
        pass
    assert stat.S_IMODE(lock_path(store).stat().st_mode) == 0o600


def test_a_killed_holder_leaves_the_store_free(tmp_path: Path) -> None:
    store = tmp_path / "run.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from iter8.embedded.store_lock import hold\n"
            "with hold(Path(sys.argv[1])):\n print('held', flush=True); time.sleep(60)",
            str(store),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreBusy, match=rf"pid {holder.pid}"), hold(store):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with hold(store):  # SIGKILL released it: the kernel drops a dead process's locks
        pass
