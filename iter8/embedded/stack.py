"""The embedded stack: broker, the four functions, sources and sinks, wired on 127.0.0.1 exactly
as a cluster wires them — the broker reads the same Broker and Trigger manifests
(`eventing/config/`), the functions run as separate functions-framework processes with
`ITER8_STORE` and `K_SINK`, the ApiServerSource watches the store, the PingSource ticks.
"""

from __future__ import annotations

import json
import logging
import socket
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Self, TextIO

import yaml

from eventing.broker.resolve import SubscriberMap
from eventing.broker.server import CONFIG_DIR, DEFAULT_MANIFESTS, EmbeddedBroker, RunningBroker
from eventing.sinks.app import SinkServer, serve_sink
from eventing.sinks.console import ConsoleNotifier
from eventing.sources.apiserver import ApiServerSource
from eventing.sources.ping import PingSource
from iter8.embedded import processes
from iter8.embedded.supervisor import RestartPolicy, Supervisor
from iter8.manifests import read_documents
from iter8.store.base import Store

BROKER = ("iter8-system", "iter8")
DRAIN_SECONDS = 10.0
log = logging.getLogger("iter8.embedded")
NOTIFICATIONS = Path(__file__).resolve().parents[2] / "eventing" / "config" / "notifications.yaml"


@dataclass
class StackOptions:
    store: str  # `sqlite:<path>` or `kubernetes` (with `kubeconfig`)
    kubeconfig: str | None = None
    tick: timedelta = timedelta(seconds=1)
    seed: int | None = None
    claim_timeout: timedelta = timedelta(seconds=120)
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="iter8-logs-")))
    async_broker: bool = False
    env: Mapping[str, str] = field(default_factory=dict)  # more environment for the functions
    triggers: Sequence[Path] = ()  # more Trigger manifests for the broker, beside eventing/config
    # processes per function; replica r > 1 is subscriber `iter8-<phase>-<r>` of its own copy of
    # the function's Trigger, so every event goes to each copy, as to N Knative Services
    replicas: int = 1
    # drive only the experiments of this namespace (the ApiServerSource and the tick), or all
    namespace: str | None = None
    # a function that exits is started again, with backoff, at most `max_restarts` times
    restarts: RestartPolicy = field(default_factory=RestartPolicy)
    report: Callable[[str], None] = log.warning  # what the supervisor did, and why it gave up


class EmbeddedStack:
    def __init__(self, store: Store, options: StackOptions) -> None:
        self.store, self.options = store, options
        self.functions: list[processes.FunctionProcess] = []
        self.broker: RunningBroker | None = None
        self.sinks: list[SinkServer] = []
        self.sources: list[ApiServerSource | PingSource] = []
        self.env: dict[str, str] = {}  # what the function processes were started with
        self._logs: list[TextIO] = []
        self._listeners: dict[tuple[str, int], socket.socket] = {}
        self.supervisor: Supervisor | None = None

    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        options = self.options
        if options.replicas < 1:
            raise ValueError(f"replicas must be at least 1, not {options.replicas}")
        self._listeners = listeners = {
            (phase, r): processes.listen()
            for r in range(1, options.replicas + 1)
            for phase in processes.PHASES
        }
        options.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._logs = [
            processes.open_private(options.log_dir / name, "a")
            for name in ("events.log", "dead-letters.log")
        ]
        notifier = serve_sink(ConsoleNotifier(self._logs[0]))
        dead_letters = serve_sink(ConsoleNotifier(self._logs[1]))
        self.sinks = [notifier, dead_letters]
        urls = {
            _replica(f"iter8-{p}", r): f"http://127.0.0.1:{sock.getsockname()[1]}"
            for (p, r), sock in listeners.items()
        }
        urls |= {"iter8-notifier": notifier.url, "iter8-deadletter": dead_letters.url}
        copies = [_trigger_copy(options.log_dir, r) for r in range(2, options.replicas + 1)]
        manifests = [*DEFAULT_MANIFESTS, NOTIFICATIONS, *copies, *options.triggers]
        self.broker = EmbeddedBroker.from_files(
            manifests, SubscriberMap(urls), async_mode=options.async_broker
        ).serve()
        sink = self.broker.broker_url(*BROKER)
        env = {
            "ITER8_STORE": options.store,
            "K_SINK": sink,
            "ITER8_CLAIM_TIMEOUT_SECONDS": str(options.claim_timeout.total_seconds()),
            "PYTHONUNBUFFERED": "1",
        }
        if options.kubeconfig:
            env["KUBECONFIG"] = options.kubeconfig
        if options.seed is not None:
            env["ITER8_SEED"] = str(options.seed)
        if options.namespace:
            env["ITER8_WATCH_NAMESPACE"] = options.namespace
        self.env = env = {**env, **options.env}
        self.functions = [
            processes.start(phase, env, sock, options.log_dir / f"{_replica(phase, r)}.log")
            for (phase, r), sock in listeners.items()
        ]
        processes.wait_until_serving(self.functions)
        self.supervisor = Supervisor(
            self.functions, self._start_again, options.restarts, options.report
        )
        self.supervisor.start()
        apiserver = ApiServerSource(self.store, sink, namespace=options.namespace)
        apiserver.start()
        ticks = PingSource(
            sink,
            schedule=f"@every {int(options.tick.total_seconds() * 1000)}ms",
            data=json.dumps(tick_options(options)),
            content_type="application/json",
        )
        ticks.start()
        self.sources = [apiserver, ticks]

    @property
    def sink(self) -> str:
        assert self.broker is not None
        return self.broker.broker_url(*BROKER)

    def check(self) -> None:
        """Raise `FunctionFailed` if a function kept exiting and the supervisor gave up."""
        if self.supervisor is not None:
            self.supervisor.check()

    def _start_again(self, old: processes.FunctionProcess) -> processes.FunctionProcess:
        """`old` again on its socket (after it exited), as Knative replaces a dead pod;
        connections that arrive meanwhile wait in the socket's backlog."""
        old.stop()  # reaps it, and ends what is left of its group
        return processes.start(old.phase, self.env, old.listener, old.log)

    def stop(self, drain: float = DRAIN_SECONDS) -> None:
        """Stop what this stack started, newest first; each part only by its own handle.

        Between the sources and the functions, the events already under way are given up to
        `drain` seconds to finish: stopping a function in the middle of a chain would fail that
        delivery and send its event to the dead-letter sink, and a terminal event on its way to
        the notifier would be lost.
        """
        if self.supervisor is not None:
            self.supervisor.hold()  # nothing is restarted while it all stops
        for source in reversed(self.sources):
            source.stop()
        if self.broker is not None and not self.broker.wait_idle(drain):
            log.warning("events still under way after %gs; stopping anyway", drain)
        processes.stop_all(self.functions)
        if self.supervisor is not None:
            self.supervisor.stop()  # only now: what it restarted dies with its thread
        for listener in self._listeners.values():
            listener.close()
        if self.broker is not None:  # drained above: what is left is dead-lettered or logged
            self.broker.stop(drain_seconds=0)
        for sink in self.sinks:
            sink.stop()
        for stream in self._logs:
            stream.close()
        self.sources, self.functions, self.broker, self.sinks = [], [], None, []
        self.supervisor = None
        self._listeners = {}

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def tick_options(options: StackOptions) -> dict[str, object]:
    """The PingSource's data (`iter8.events.TickData`): a look-ahead of nine tenths of the
    tick, so that an iteration runs when it falls due rather than at the first tick after; and
    with the synchronous broker, which answers the tick only once every chain it started is
    done, a tick answered at once (held by its chains and its look-ahead, it outlasted its
    period and the next one was skipped)."""
    return {
        "tick": True,
        "aheadSeconds": 0.9 * options.tick.total_seconds(),
        "detach": not options.async_broker,
    }


def _replica(name: str, replica: int) -> str:
    return name if replica == 1 else f"{name}-{replica}"


def _trigger_copy(directory: Path, replica: int) -> Path:
    """`eventing/config/triggers.yaml` for replica `replica`: each Trigger and its subscriber
    renamed `<name>-<replica>`."""
    documents = [d.data for d in read_documents(CONFIG_DIR / "triggers.yaml")]
    for document in documents:
        document["metadata"]["name"] = _replica(document["metadata"]["name"], replica)
        ref = document["spec"]["subscriber"]["ref"]
        ref["name"] = _replica(ref["name"], replica)
    path = directory / f"triggers-{replica}.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return path
