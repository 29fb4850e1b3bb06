"""How a served function loads (`functions.server.create_app`): the collector stays out of it,
and so does what no event uses (`functions.startup`)."""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from iter8.embedded.processes import serving

ROOT = Path(__file__).resolve().parent.parent.parent


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


def _fresh(code: str, env: dict[str, str] | None = None) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_server_starts_no_blas_threads_and_leaves_the_environment_as_it_was() -> None:
    """numpy's and scipy's OpenBLAS start no thread pool (one each per core, before): no event
    calls BLAS. The setting is gone from the environment once they are loaded, so a process a
    task starts sees the server's own; a value the server was given is kept."""
    code = (
        "import json, os, subprocess\n"
        "from functions.startup import without_what_no_event_uses\n"
        "with without_what_no_event_uses():\n"
        "    import numpy, scipy.special\n"
        "child = subprocess.run(['sh', '-c', 'echo ${OPENBLAS_NUM_THREADS:-unset}'],"
        " capture_output=True, text=True).stdout.strip()\n"
        "print(json.dumps({'threads': len(os.listdir('/proc/self/task')), 'child': child}))"
    )
    unset = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert _fresh(code, unset) == {"threads": 1, "child": "unset"}
    assert _fresh(code, {**unset, "OPENBLAS_NUM_THREADS": "2"})["child"] == "2"


def test_httpx_works_without_its_command_line(tmp_path: Path) -> None:
    """httpx without `httpx._main` (rich, pygments): a real request still goes through, and
    `httpx.main` says the CLI is missing."""
    (tmp_path / "hello.txt").write_text("hello")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        found = _fresh(
            "import json, sys\n"
            "from functions.startup import without_what_no_event_uses\n"
            "with without_what_no_event_uses():\n"
            "    import httpx\n"
            f"reply = httpx.Client(timeout=10).get('http://127.0.0.1:{port}/hello.txt')\n"
            "print(json.dumps({'status': reply.status_code, 'text': reply.text,"
            " 'cli': [m for m in ('httpx._main', 'rich', 'pygments') if sys.modules.get(m)],"
            " 'stub': httpx.main.__module__}))"
        )
    finally:
        server.shutdown()
        server.server_close()
    assert found == {"status": 200, "text": "hello", "cli": [], "stub": "httpx"}


def test_the_arbiter_opens_no_control_socket(tmp_path: Path) -> None:
    """gunicorn's control socket (for `gunicornc`) stays closed: no thread in the arbiter, no
    socket on the per-user path every function's arbiter would share."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "ITER8_STORE": f"sqlite:{tmp_path / 'store.db'}",
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    iter8 = Path(sys.executable).parent / "iter8"
    process = subprocess.Popen(
        [str(iter8), "serve", "route", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not serving(port):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # gunicorn opened its control socket once the worker was spawned
        assert not (tmp_path / "gunicorn.ctl").exists()
        assert len(list(Path(f"/proc/{process.pid}/task").iterdir())) == 1
    finally:
        process.terminate()
        process.wait(30)
