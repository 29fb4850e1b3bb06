"""The report served live while `iter8 run` runs (`--report-port`): on 127.0.0.1 only, GET only,
one page per experiment of the run at `/<namespace>/<name>` (`/` is the first), drawn from the
store on request and again only when the experiment changed, the browser reloading it every few
seconds by a meta refresh. One page is drawn at a time, so a burst of requests costs one
drawing each, in turn."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from iter8.api.experiment import Experiment
from iter8.events import ExperimentRef
from iter8.lifecycle.status import timestamp
from iter8.report import html
from iter8.store import EXPERIMENTS, Store, StoreError

REFRESH_SECONDS = 5


class LiveReport:
    def __init__(self, store: Store, port: int, host: str = "127.0.0.1") -> None:
        self._store = store
        self._paths: dict[str, ExperimentRef] = {}
        self._drawn: dict[str, tuple[str, bytes]] = {}  # ns/name → (resourceVersion, page)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-report")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> LiveReport:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def show(self, refs: Sequence[ExperimentRef]) -> None:
        """Serve these experiments (until then every path is 404)."""
        paths = {f"/{r.namespace}/{r.name}": r for r in refs}
        self._paths = {"/": refs[0], **paths} if refs else paths

    def page(self, path: str) -> bytes | None:
        """The page at `path`, or None for a path that is no experiment of the run."""
        ref = self._paths.get(path)
        if ref is None:
            return None
        with self._lock:
            data = self._store.get(EXPERIMENTS, ref.namespace, ref.name)
            version = str((data.get("metadata") or {}).get("resourceVersion"))
            key = f"{ref.namespace}/{ref.name}"
            cached = self._drawn.get(key)
            if cached is None or cached[0] != version:
                stamp = timestamp(datetime.now(UTC))
                text = html(Experiment.from_wire(data), stamp, refresh=REFRESH_SECONDS)
                self._drawn[key] = cached = (version, text.encode())
            return cached[1]


def _handler(live: LiveReport) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                body = live.page(self.path.partition("?")[0])
            except StoreError as error:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, error.message.encode(), "text/plain")
                return
            if body is None:
                self._send(HTTPStatus.NOT_FOUND, b"no such experiment in this run\n", "text/plain")
                return
            self._send(HTTPStatus.OK, body, "text/html; charset=utf-8")

        def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the run's progress owns stderr."""

    return Handler
