"""How a served function starts (`functions.server`): the worker loads the app, not the arbiter,
and the collector stays out of the load."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.functions import proctree

ROOT = Path(__file__).resolve().parent.parent.parent


def _healthz(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    finally:
        connection.close()


def _libraries(pid: int) -> set[str]:
    """The file names of the shared objects mapped into process `pid`."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {Path(line.split()[-1]).name for line in maps if line.split()[-1].endswith(".so")}


def test_the_worker_loads_the_app_and_the_arbiter_stays_small(tmp_path: Path) -> None:
    """The arbiter (`iter8 serve`) forks its worker before the function is imported: the worker
    pays for no copy of the arbiter's pages it writes to, and the arbiter holds neither numpy
    nor scipy."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    iter8 = Path(sys.executable).parent / "iter8"
    env = {**os.environ, "ITER8_STORE": f"sqlite:{tmp_path / 'store.db'}"}
    process = subprocess.Popen(
        [str(iter8), "serve", "analyze", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None
            try:
                if _healthz(port) == 200:
                    break
            except OSError:
                time.sleep(0.05)
        ((worker, _),) = proctree.descendants(process.pid)  # (pid, start time)

        def scientific(pid: int) -> set[str]:
            return {n for n in _libraries(pid) if n.startswith(("_multiarray_umath", "_ufuncs"))}

        assert len(scientific(worker)) >= 2  # numpy's and scipy.special's, warm
        assert scientific(process.pid) == set()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_collector_stays_out_of_the_load_and_is_left_as_found() -> None:
    code = (
        "import gc, json\n"
        "from functions.server import create_app\n"
        "collections = []\n"
        "gc.callbacks.append(lambda phase, info: collections.append(phase))\n"
        "create_app('analyze', 'functions/analyze/main.py')\n"
        "during = len(collections)\n"
        "print(json.dumps({'during': during, 'enabled': gc.isenabled(),"
        " 'frozen': gc.get_freeze_count()}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["during"] == 0  # was ~200 collections, ~12% of the startup's CPU
    assert found["enabled"]
    assert found["frozen"] > 50_000  # what was loaded, out of later collections' sight
