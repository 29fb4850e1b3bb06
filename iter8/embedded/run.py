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
from iter8.store import EXPERIMENTS, AlreadyExists, Conflict, NotFound, Store
from iter8.tasks.objects import apply_documents

DEFAULT_NAMESPACE = "default"


class RunError(Exception):
    """The run cannot start: the message says what to change."""


def create(
    store: Store, documents: Sequence[Document], report: Callable[[str], None] = lambda _: None
) -> list[ExperimentRef]:
    """Everything else first (namespaces, metrics, secrets, routed objects), then experiments,
    so that init finds what they refer to. An experiment the store holds already with the very
    same spec is continued, not refused: a run that was stopped (Ctrl-C, a reboot) left it in
    the store mid-way, and the same command picks it up where it stood (the tick asks for
    whatever is due or stalled). One held with another spec is refused before anything is
    written, so a refused file changes nothing in the store."""
    others = [d.data for d in documents if d.kind not in (None, "Experiment")]
    bodies = [_body(d.data) for d in documents if d.kind == "Experiment"]
    if not bodies:
        raise RunError("the file holds no Experiment")
    found = [_held(store, body) for body in bodies]
    namespaces = [d for d in others if d.get("kind") == "Namespace"]
    rest = [d for d in others if d.get("kind") != "Namespace"]
    apply_documents(store, namespaces + rest, DEFAULT_NAMESPACE)
    refs = []
    for body, stored in zip(bodies, found, strict=True):
        if stored is None:
            stored = _created(store, body, report)
        else:
            _report_continued(stored, report)
        meta = stored["metadata"]
        refs.append(ExperimentRef(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"]))
    return refs


def _body(data: dict[str, Any]) -> dict[str, Any]:
    """The experiment as it is created: in the default namespace unless it names one, no status."""
    body: dict[str, Any] = {**data, "metadata": {**data.get("metadata", {})}}
    body["metadata"].setdefault("namespace", DEFAULT_NAMESPACE)
    body.pop("status", None)
    return body


def _name(body: dict[str, Any]) -> str:
    meta = body["metadata"]
    return f"{meta['namespace']}/{meta.get('name')}"


def _held(store: Store, body: dict[str, Any]) -> dict[str, Any] | None:
    """The stored experiment of `body`'s name when it has `body`'s spec, None when there is
    none; another spec is refused, naming the first field that differs."""
    meta = body["metadata"]
    try:
        stored = store.get(EXPERIMENTS, meta["namespace"], meta.get("name", ""))
    except NotFound:
        return None
    if stored.get("spec") != body.get("spec"):
        where = first_difference(stored.get("spec"), body.get("spec"), "spec")
        raise RunError(
            f"experiment {_name(body)} exists already with another spec ({where} differs): "
            "delete it, or give the new one another name (the same manifest continues it)"
        )
    return stored


def _created(store: Store, body: dict[str, Any], report: Callable[[str], None]) -> dict[str, Any]:
    try:
        return store.create(EXPERIMENTS, body)
    except AlreadyExists:  # created by someone else since `_held` looked: the same rules
        pass
    stored = _held(store, body)
    if stored is None:
        raise RunError(f"experiment {_name(body)} was created and deleted meanwhile: run again")
    _report_continued(stored, report)
    return stored


def _report_continued(stored: dict[str, Any], report: Callable[[str], None]) -> None:
    name, status = _name(stored), stored.get("status") or {}
    if status.get("stage") == "Completed":
        report(f"{name}: in the store already, completed")
    else:
        done = status.get("completedIterations") or 0
        report(f"{name}: in the store already, at iteration {done}: continuing it")


def release_claims(store: Store, report: Callable[[str], None] = lambda _: None) -> None:
    """Clear the claims of phases at work (`status.inProgress`, `lifecycle.tick`) that a stopped
    run left in the store, which the tick would otherwise wait out (two minutes each). Only for
    a caller holding the store's run lock (`embedded.store_lock`): then no phase of any other
    run can be at work on it. A hand-off (analyze → route) is left: nothing waits on it long."""
    experiments, _ = store.list(EXPERIMENTS)
    for stored in experiments:
        status = stored.get("status") or {}
        claim = status.get("inProgress")
        if not isinstance(claim, dict) or claim.get("phase") != claim.get("by"):
            continue
        cleared = {**stored, "status": {k: v for k, v in status.items() if k != "inProgress"}}
        try:
            store.replace_status(EXPERIMENTS, cleared)
        except (Conflict, NotFound):  # changed or gone since it was read: nothing left to clear
            continue
        report(
            f"{_name(stored)}: a stopped run left {claim.get('phase')} at work on iteration "
            f"{claim.get('iteration', 0)}: cleared, to be asked again"
        )


def first_difference(old: Any, new: Any, path: str) -> str:
    """The first field where two parsed manifests differ, as a dotted path (`spec.duration`,
    `spec.criteria.objectives[1]`), so that a refusal names what changed."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            if old.get(key) != new.get(key):
                return first_difference(old.get(key), new.get(key), f"{path}.{key}")
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                return first_difference(a, b, f"{path}[{index}]")
    return path


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
