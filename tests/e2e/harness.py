"""The embedded stack as the end-to-end tests drive it: a `SqliteStore` in a temporary directory,
the broker built from `eventing/config/`, the four functions as real processes, the sources, and
the console sink whose `events.log` shows what went out."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from iter8.api.experiment import Experiment
from iter8.embedded.run import create, wait
from iter8.embedded.stack import EmbeddedStack, StackOptions
from iter8.events import ExperimentRef
from iter8.manifests import Document
from iter8.store import EXPERIMENTS
from iter8.store.resources import Resource
from iter8.store.sqlite import SqliteStore

# `default/exp: weights.applied, iteration 2 — weights v1=80, v2=20` (eventing/sinks/summary.py)
LINE = re.compile(
    r"^(?P<exp>\S+): (?P<event>[\w.]+)(?:, iteration (?P<it>\d+))?(?: — (?P<rest>.*))?$"
)


@dataclass(frozen=True)
class Sent:
    """One line of `events.log`: an event the notification sink received."""

    experiment: str
    event: str  # the type without `tools.iter8.`
    iteration: int | None
    details: dict[str, str]

    @property
    def weights(self) -> dict[str, int]:
        pairs = (item.split("=") for item in self.details.get("weights", "").split(", ") if item)
        return {name: int(value) for name, value in pairs}


def parse_events(text: str) -> list[Sent]:
    sent = []
    for line in text.splitlines():
        match = LINE.match(line)
        if match is None:
            continue
        details = dict(
            item.partition(" ")[::2] for item in (match["rest"] or "").split("; ") if item
        )
        iteration = int(match["it"]) if match["it"] is not None else None
        sent.append(Sent(match["exp"], match["event"], iteration, details))
    return sent


@dataclass
class Harness:
    stack: EmbeddedStack
    store: SqliteStore
    log_dir: Path

    def submit(self, *objects: Mapping[str, Any]) -> ExperimentRef:
        """Create the objects (routed objects and metrics before the experiment, as `iter8 run`
        does); the experiment's reference."""
        documents = [Document("<e2e>", i, 1, dict(o)) for i, o in enumerate(objects)]
        (ref,) = create(self.store, documents)
        return ref

    def wait(self, ref: ExperimentRef, timeout: float = 60) -> Experiment:
        """The experiment once Completed; TimeoutError (with its last status) otherwise."""
        try:
            (final,) = wait(self.store, [ref], lambda _: None, timeout=timeout, poll=0.1)
        except TimeoutError:
            raw = self.store.get(EXPERIMENTS, ref.namespace, ref.name)
            raise TimeoutError(
                f"{ref} not completed after {timeout}s: {raw.get('status')}"
            ) from None
        return final

    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        return self.store.get(resource, namespace, name)

    def mark(self) -> str:
        """The store's resourceVersion now, to read `history` from."""
        return self.store.list(EXPERIMENTS)[1]

    def history(
        self, resource: Resource, namespace: str, name: str, since: str
    ) -> list[dict[str, Any]]:
        """Every write to one object after `since`, oldest first, replayed by the store's watch
        (it keeps the last 10,000 changes): the object as each write left it."""
        events = self.store.watch(resource, namespace, resource_version=since, timeout_seconds=0.3)
        return [e.object for e in events if e.object["metadata"]["name"] == name]

    def events(self, experiment: str | ExperimentRef) -> list[Sent]:
        text = (self.log_dir / "events.log").read_text()
        return [s for s in parse_events(text) if s.experiment == str(experiment)]

    def wait_for_event(
        self, experiment: str | ExperimentRef, event: str, timeout: float = 15
    ) -> list[Sent]:
        """Every event of `experiment` once one of type `event` has reached the sink."""
        deadline = time.monotonic() + timeout
        while True:
            sent = self.events(experiment)
            if any(s.event == event for s in sent) or time.monotonic() > deadline:
                return sent
            time.sleep(0.1)

    def dead_letters(self) -> str:
        return (self.log_dir / "dead-letters.log").read_text()


@contextmanager
def running(
    root: Path,
    *,
    tick: float = 0.3,
    claim_timeout: float = 120,
    env: Mapping[str, str] | None = None,
    triggers: Sequence[Path] = (),
    seed: int | None = 7,
) -> Iterator[Harness]:
    """An embedded stack on a fresh store under `root`, stopped (only what it started) on exit."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "store.db"
    store = SqliteStore(path)
    options = StackOptions(
        store=f"sqlite:{path}",
        tick=timedelta(seconds=tick),
        seed=seed,
        claim_timeout=timedelta(seconds=claim_timeout),
        log_dir=root / "logs",
        env=dict(env or {}),
        triggers=list(triggers),
    )
    with EmbeddedStack(store, options) as stack:
        yield Harness(stack, store, options.log_dir)
