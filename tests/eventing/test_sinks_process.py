"""The sink as its Knative Service runs it: a functions-framework process whose log is the pod's.
Found on Knative's own broker (tests/knative): with `ITER8_NOTIFIER=console`, as the dead-letter
sink is deployed, the events went nowhere, because nothing set up logging in that process."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

MAIN = Path(__file__).resolve().parents[2] / "eventing" / "sinks" / "main.py"
FRAMEWORK = Path(sys.executable).parent / "functions-framework"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(port: int, deadline: float) -> int:
    headers = {
        "ce-specversion": "1.0", "ce-id": "dl-1", "ce-source": "/test",
        "ce-type": "tools.iter8.experiment.promoted", "ce-subject": "ns/exp",
        "content-type": "application/json",
    }  # fmt: skip
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("POST", "/", body=b"{}", headers=headers)
            return connection.getresponse().status
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        finally:
            connection.close()


def test_the_console_notifier_writes_each_event_to_the_process_log(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "sink.log"
    env = {**os.environ, "ITER8_NOTIFIER": "console", "ITER8_LOG_FORMAT": "text"}
    env.pop("ITER8_CONSOLE", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(FRAMEWORK), "--source", str(MAIN), "--target", "notify",
             "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        assert _post(port, time.monotonic() + 30) < 300
        deadline = time.monotonic() + 10
        while "ns/exp: experiment.promoted" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(10)
    assert "ns/exp: experiment.promoted" in log.read_text(), log.read_text()
