"""How a served function loads (`functions.server.create_app`): the collector stays out of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
