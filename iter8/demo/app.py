"""The demo's sample app: one version per server on 127.0.0.1, with a latency and an error rate
you choose, so you can make the candidate better or worse and watch the experiment decide."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Behaviour:
    latency_ms: float  # median latency; the tail is log-normal, as real services' tails are
    error_rate: float  # fraction of requests answered 500


class SampleApp:
    def __init__(self, version: str, behaviour: Behaviour, seed: int = 0) -> None:
        self.version = version
        self.behaviour = behaviour
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"app-{version}", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> SampleApp:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def draw(self) -> tuple[float, bool]:
        """This request's latency (seconds) and whether it fails."""
        with self._lock:
            latency = self.behaviour.latency_ms / 1000 * self._random.lognormvariate(0, 0.35)
            failed = self._random.random() < self.behaviour.error_rate
        return latency, failed


def _handler_for(app: SampleApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            latency, failed = app.draw()
            time.sleep(latency)
            body = f"{app.version}: {'oops' if failed else 'hello'}\n".encode()
            self.send_response(500 if failed else 200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the demo prints its own progress."""

    return Handler
