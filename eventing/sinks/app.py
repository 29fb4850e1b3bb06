"""A notifier as a Trigger subscriber: an HTTP app that answers Knative the way it must.

The answer is `202` with an empty body as soon as the event is parsed, whatever becomes of the
notification: a notifier's downstream (Slack, a webhook) failing is no fault of the event, and
a `5xx` would make the broker retry it and then dead-letter it, as if the experiment's event
were bad; any `2xx` with a body that is not a CloudEvent is a failed delivery too. With the
synchronous broker, the producer's POST waits for every subscriber, so the notification is made
afterwards, on a worker thread per notifier (a slow Slack delays neither the experiment nor the
other notifiers). The bounded queue and the bounded retry keep a dead downstream from piling up
work; what they drop is logged. Only a request that is not a CloudEvent gets `400`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Collection, Sequence

from cloudevents.exceptions import GenericException
from cloudevents.http import CloudEvent, from_http
from flask import Flask, Request, request
from werkzeug.serving import WSGIRequestHandler, make_server

from eventing.sinks.notifier import DeliveryFailed, Notifier

log = logging.getLogger("iter8.eventing.sinks")

Response = tuple[str, int, dict[str, str]]
ITER8_EVENTS = "tools.iter8."


class Dispatcher:
    """Feeds events to one notifier on its own thread, in arrival order."""

    def __init__(self, notifier: Notifier, capacity: int = 1000) -> None:
        self.notifier = notifier
        self.capacity = capacity
        self.failed = 0
        self._pending: deque[CloudEvent] = deque()
        self._busy = False
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"notify-{notifier.name}")
        self._thread.daemon = True
        self._thread.start()

    def submit(self, event: CloudEvent) -> None:
        with self._changed:
            if self._closed or len(self._pending) >= self.capacity:
                log.warning(
                    "%s: dropped %s %s (queue full)", self.notifier.name, event["type"], event["id"]
                )
                return
            self._pending.append(event)
            self._changed.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted event has been handled; False if `timeout` ran out."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending and not self._busy, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Finish what is queued (within `timeout`), then close the notifier."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout)
        self.notifier.close()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return
                event = self._pending.popleft()
                self._busy = True
            try:
                self.notifier.notify(event)
            except DeliveryFailed as error:
                self.failed += 1
                log.warning(
                    "%s: %s %s not notified: %s",
                    self.notifier.name,
                    event["type"],
                    event["id"],
                    error,
                )
            except Exception:
                self.failed += 1
                log.exception(
                    "%s: %s %s not notified", self.notifier.name, event["type"], event["id"]
                )
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()


def receive(
    incoming: Request, dispatchers: Sequence[Dispatcher], types: Collection[str] | None = None
) -> Response:
    """Parse, hand over, answer: 202 empty, 400 for what is not a CloudEvent, 405 for not POST."""
    if incoming.method != "POST":
        return "", 405, {"Allow": "POST"}
    try:
        event = from_http(dict(incoming.headers), incoming.get_data())
    except (GenericException, ValueError, TypeError, UnicodeDecodeError) as error:
        return f"not a CloudEvent: {error}", 400, {"Content-Type": "text/plain"}
    wanted = event["type"] in types if types is not None else event["type"].startswith(ITER8_EVENTS)
    if wanted:
        for dispatcher in dispatchers:
            dispatcher.submit(event)
    return "", 202, {}


def make_app(dispatchers: Sequence[Dispatcher], types: Collection[str] | None = None) -> Flask:
    """A Flask app for `dispatchers`; `types` limits the event types notified (default: every
    `tools.iter8.*` type; the Trigger's filter usually does the choosing)."""
    app = Flask(f"iter8-sink-{'-'.join(d.notifier.name for d in dispatchers)}")

    @app.route("/", methods=["POST", "GET", "PUT", "DELETE", "PATCH"])
    def root() -> Response:
        return receive(request, dispatchers, types)

    return app


class _QuietHandler(WSGIRequestHandler):
    """No access log line per event: `iter8 run` shows progress on the same terminal."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class SinkServer:
    """A running sink on 127.0.0.1: `url` to subscribe, `flush()` to wait for the notifications
    made so far, `stop()` to stop taking events, finish the queued ones and close the notifiers."""

    def __init__(
        self, dispatchers: Sequence[Dispatcher], host: str, port: int, types: Collection[str] | None
    ) -> None:
        self.dispatchers = list(dispatchers)
        self._server = make_server(
            host,
            port,
            make_app(self.dispatchers, types),
            threaded=True,
            request_handler=_QuietHandler,
        )
        self.url = f"http://{host}:{self._server.port}/"
        self._thread = threading.Thread(  # a short poll makes stop() prompt
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sink-http"
        )
        self._thread.daemon = True
        self._thread.start()

    @property
    def notifiers(self) -> list[Notifier]:
        return [d.notifier for d in self.dispatchers]

    def flush(self, timeout: float | None = 10.0) -> bool:
        return all(d.flush(timeout) for d in self.dispatchers)

    def stop(self, timeout: float = 5.0) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)
        for dispatcher in self.dispatchers:
            dispatcher.close(timeout)

    def __enter__(self) -> SinkServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def serve_sink(
    notifiers: Notifier | Sequence[Notifier],
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    types: Collection[str] | None = None,
) -> SinkServer:
    """Serve one or more notifiers at `http://127.0.0.1:<port>/` (port 0: a free one)."""
    chosen = [notifiers] if not isinstance(notifiers, Sequence) else list(notifiers)
    return SinkServer([Dispatcher(n) for n in chosen], host, port, types)
