"""An embedded store, an experiment with a finished analysis, a task context over both, and a
local HTTP receiver (127.0.0.1) that records what notifications send."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from iter8.api.experiment import Experiment, TaskSpec
from iter8.store.sqlite import SqliteStore
from iter8.tasks import TaskContext

Object = dict[str, Any]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.db")
    yield opened
    opened.close()


def experiment(
    *,
    candidates: tuple[str, ...] = ("sample-app-v2",),
    winner: str | None = "sample-app-v2",
    testing: str = "Canary",
    recommended: str | None = None,
    variables: dict[str, dict[str, str]] | None = None,
    name: str = "quickstart-exp",
) -> Experiment:
    """The Knative quickstart after its last iteration: `winner` won (None: no winner)."""
    variables = variables or {}

    def version(version_name: str) -> Object:
        values = variables.get(version_name, {})
        detail: Object = {"name": version_name}
        if values:
            detail["variables"] = [{"name": k, "value": v} for k, v in values.items()]
        return detail

    found = winner is not None
    return Experiment.from_wire(
        {
            "apiVersion": "iter8.tools/v2alpha2",
            "kind": "Experiment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "target": "default/sample-app",
                "strategy": {"testingPattern": testing},
                "versionInfo": {
                    "baseline": version("sample-app-v1"),
                    "candidates": [version(c) for c in candidates],
                },
            },
            "status": {
                "stage": "Finishing",
                "completedIterations": 3,
                "versionRecommendedForPromotion": recommended or winner or "sample-app-v1",
                "analysis": {
                    "winnerAssessment": {
                        "data": {"winnerFound": found, **({"winner": winner} if found else {})}
                    },
                    "weights": {
                        "data": [
                            {"name": "sample-app-v1", "value": 5},
                            {"name": "sample-app-v2", "value": 95},
                        ]
                    },
                },
            },
        }
    )


def tasks(*specs: Object) -> list[TaskSpec]:
    return [TaskSpec.from_wire(spec) for spec in specs]


@pytest.fixture
def context(store: SqliteStore, tmp_path: Path) -> TaskContext:
    return TaskContext(experiment=experiment(), store=store, work_dir=tmp_path / "work")


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    echo_authorization: bool = (
        False  # answer with the request's Authorization header, as some backends do
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append(Received(self.command, self.path, headers, body))
            answer = b"ok"
            if state.echo_authorization:
                answer = f"denied: {headers.get('authorization')}".encode()
            self.send_response(state.status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def do_GET(self) -> None:
            self._record()

        def do_POST(self) -> None:
            self._record()

        def do_PUT(self) -> None:
            self._record()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()
