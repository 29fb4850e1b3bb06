"""The function processes of the embedded stack serve on sockets the stack holds."""

from __future__ import annotations

import http.client
import subprocess
import sys
from pathlib import Path

import pytest

from iter8.embedded import processes


def _healthz(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_function_serves_on_the_inherited_socket_and_keeps_its_port_when_restarted(
    tmp_path: Path,
) -> None:
    env = {"ITER8_STORE": f"sqlite:{tmp_path / 'store.db'}"}
    listener = processes.listen()
    port = listener.getsockname()[1]
    first = processes.start("route", env, listener, tmp_path / "route.log")
    try:
        processes.wait_until_serving([first])
        assert _healthz(port) == 200
        first.stop()
        assert first.process.returncode is not None
        second = processes.start("route", env, listener, tmp_path / "route.log")
        try:
            processes.wait_until_serving([second])
            assert second.port == port and _healthz(port) == 200
        finally:
            second.stop()
    finally:
        first.stop()
        listener.close()


def test_a_process_that_exits_is_not_taken_for_a_serving_function() -> None:
    """The kernel accepts connections on the stack's socket whoever serves it, so readiness is
    a probe answered by the function, and a process that ended is reported."""
    listener = processes.listen()
    ended = processes.FunctionProcess(
        "route", listener, subprocess.Popen([sys.executable, "-c", ""])
    )
    try:
        with pytest.raises(RuntimeError, match="function route exited with 0"):
            processes.wait_until_serving([ended], timeout=10)
    finally:
        listener.close()
