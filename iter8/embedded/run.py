"""Running experiments to the end on the embedded stack: create what the manifests hold, then
watch each experiment's status until it completes, reporting every step."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from iter8.api.experiment import Experiment
from iter8.embedded.progress import Progress
from iter8.events import ExperimentRef
from iter8.lifecycle.status import is_completed, is_true
from iter8.manifests import Document
from iter8.store import EXPERIMENTS, AlreadyExists, NotFound, Store
from iter8.tasks.objects import apply_documents

DEFAULT_NAMESPACE = "default"


class RunError(Exception):
    """The run cannot start: the message says what to change."""


def create(store: Store, documents: Sequence[Document]) -> list[ExperimentRef]:
    """Everything else first (namespaces, metrics, secrets, routed objects), then experiments,
    so that init finds what they refer to."""
    others = [d.data for d in documents if d.kind not in (None, "Experiment")]
    experiments = [d.data for d in documents if d.kind == "Experiment"]
    if not experiments:
        raise RunError("the file holds no Experiment")
    namespaces = [d for d in others if d.get("kind") == "Namespace"]
    rest = [d for d in others if d.get("kind") != "Namespace"]
    apply_documents(store, namespaces + rest, DEFAULT_NAMESPACE)
    refs = []
    for data in experiments:
        body: dict[str, Any] = {**data, "metadata": {**data.get("metadata", {})}}
        body["metadata"].setdefault("namespace", DEFAULT_NAMESPACE)
        body.pop("status", None)
        try:
            stored = store.create(EXPERIMENTS, body)
        except AlreadyExists:
            meta = body["metadata"]
            raise RunError(
                f"experiment {meta['namespace']}/{meta.get('name')} exists already: "
                "delete it, or give the new one another name"
            ) from None
        meta = stored["metadata"]
        refs.append(ExperimentRef(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"]))
    return refs


def wait(
    store: Store,
    refs: Sequence[ExperimentRef],
    report: Callable[[str], None],
    timeout: float | None = None,
    poll: float = 0.2,
    health: Callable[[], None] = lambda: None,
) -> list[Experiment]:
    """Until every experiment completes (or `timeout` seconds pass); their final state.
    `health` raises when what drives the experiments has failed (a function that keeps dying):
    then nothing would ever complete, and waiting on would hide why."""
    progress = Progress()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        health()
        current = [_read(store, ref) for ref in refs]
        for experiment in current:
            for line in progress.lines(experiment):
                report(line)
        if all(is_completed(e.status) for e in current):
            return current
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"not completed after {timeout:g}s")
        time.sleep(poll)


def succeeded(experiments: Sequence[Experiment]) -> bool:
    return all(is_completed(e.status) and not is_true(e.status, "Failed") for e in experiments)


def _read(store: Store, ref: ExperimentRef) -> Experiment:
    try:
        return Experiment.from_wire(store.get(EXPERIMENTS, ref.namespace, ref.name))
    except NotFound:
        raise RunError(f"experiment {ref} was deleted while it ran") from None
