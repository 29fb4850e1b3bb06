"""init: a new Experiment → defaults, validation, the target lock, `start` actions, Running.

Triggered by the ApiServerSource `add` event (resource or reference mode) and by the tick's
`initialization.due` for an experiment still waiting for its target. Replies
`experiment.initialized` (analyze runs the first iteration at once), `experiment.failed` for an
invalid experiment, or nothing while it waits.
"""

from __future__ import annotations

from typing import Any

import functions_framework
from cloudevents.http import CloudEvent
from flask import Request

from functions import lease, state
from functions.http import Response, serve
from functions.runtime import Runtime
from iter8.api.builtin import builtin_metrics
from iter8.api.experiment import Experiment, InProgress, VersionInfo, VersionWeight
from iter8.api.metric import Metric
from iter8.api.references import MetricKey
from iter8.events import EventType, ExperimentRef, created_experiment, event_data, experiment_event
from iter8.lifecycle import admission, control, tick
from iter8.lifecycle.status import (
    TARGET_ACQUIRED,
    advance_stage,
    complete,
    fail,
    initial_status,
    is_completed,
    set_condition,
    timestamp,
)
from iter8.routing import leave_nothing_behind, prepare_routing, read_weights
from iter8.store import EXPERIMENTS, METRICS, NotFound, Store
from iter8.tasks import TaskContext, run_action
from iter8.tasks.library import knative_init_experiment as knative_init
from iter8.validation.documents import gather_metrics
from iter8.validation.loading import load_lenient

PHASE = "init"
ACCEPTS = (
    EventType.RESOURCE_ADD,
    EventType.REF_ADD,
    EventType.INITIALIZATION_DUE,
)  # what its Trigger lets through


@functions_framework.http
def init(request: Request) -> Response:
    return serve(request, handle, PHASE, ACCEPTS)


def handle(event: CloudEvent, runtime: Runtime) -> CloudEvent | None:
    if event["type"] == EventType.INITIALIZATION_DUE:
        ref: ExperimentRef | None = event_data(event)
    else:
        ref = created_experiment(event)
    if ref is None or not runtime.watches(ref.namespace):
        return None  # not an Experiment, or one in a namespace this function does not watch
    return state.retry_on_conflict(lambda: _initialize(runtime, ref))


def _initialize(runtime: Runtime, ref: ExperimentRef) -> CloudEvent | None:
    snapshot = state.read(runtime.store, ref)
    if snapshot is None or snapshot.status.stage not in (None, "Waiting", "Initializing"):
        return None  # gone, or already past init: a repeated event changes nothing
    now = runtime.now()
    status = snapshot.status if snapshot.raw.get("status") else initial_status(now)
    loaded, _ = load_lenient(Experiment, snapshot.raw)
    reason = control.control_of(loaded).abort if loaded is not None else None
    if reason is not None and status.stage in (None, "Waiting"):  # it never held its target
        message = f"Experiment aborted before it started: {reason}"
        set_condition(status, control.CONDITION_ABORTED, True, "Aborted", message, now)
        complete(status, message, now)
        done = state.write_status(runtime.store, snapshot, status)
        return _reply(EventType.ABORTED, done.ref, reason=reason, message=message)
    data = snapshot.raw
    if knative_init.asks_for_it(data) and not (data.get("spec") or {}).get("versionInfo"):
        if status.version_info is None:  # v2's knative/init-experiment: from the Service
            found = knative_init.fill(runtime.store, data)
            if isinstance(found, str):
                fail(status, "InvalidExperiment", found, now)
                done = state.write_status(runtime.store, snapshot, status)
                return _reply(EventType.FAILED, done.ref, reason="InvalidExperiment", message=found)
            status.version_info = VersionInfo.from_wire(found)
        data = {**data, "spec": {**data["spec"], "versionInfo": status.version_info.to_wire()}}
    catalog = _catalog(runtime.store, data)
    checked = admission.check(data, catalog)
    if isinstance(checked, admission.Refused):
        fail(status, checked.reason, checked.message, now)
        status.in_progress = None
        done = state.write_status(runtime.store, snapshot, status)
        return _reply(EventType.FAILED, done.ref, reason=checked.reason, message=checked.message)

    if status.stage in (None, "Waiting"):
        others = _experiments(runtime.store, checked.spec.target)
        decision = admission.admit(checked, others, catalog)
        acquired = isinstance(decision, admission.Admitted) and lease.acquire(
            runtime.store, checked.spec.target, snapshot.ref, _alive(runtime.store)
        )
        if not acquired:
            behind = decision.behind if isinstance(decision, admission.Waiting) else None
            set_condition(
                status,
                TARGET_ACQUIRED,
                False,
                "TargetNotAcquired",
                f"Waiting for target {checked.spec.target}"
                + (f", held by {behind}" if behind else ""),
                now,
            )
            advance_stage(status, "Waiting")
            state.write_status(runtime.store, snapshot, status)
            return None
        assert isinstance(decision, admission.Admitted)
        set_condition(status, TARGET_ACQUIRED, True, "TargetAcquired", "Target acquired", now)
        status.metrics = decision.metrics
        advance_stage(status, "Initializing")
    elif tick.busy(status, now, runtime.timeouts):
        return None  # another replica is running the start actions
    status.in_progress = InProgress(phase=PHASE, by=PHASE, since=timestamp(now))
    snapshot = state.write_status(runtime.store, snapshot, status)

    return _start(runtime, snapshot, checked)


def _start(runtime: Runtime, snapshot: state.Snapshot, experiment: Experiment) -> CloudEvent:
    """Run the `start` action, read the split now in force, and enter Running."""
    status = snapshot.status
    status.in_progress = None
    now = runtime.now()
    start = (experiment.spec.strategy.actions or {}).get("start") or []
    result = run_action(start, TaskContext(experiment=experiment, store=runtime.store))
    if not result.ok:
        message = f"Start actions failed: {result.message}"
        left = leave_nothing_behind(
            runtime.store, experiment
        )  # it held the target: its mirror goes
        fail(status, "HandlerFailed", message + (f"; {left}" if left else ""), now)
        done = state.write_status(runtime.store, snapshot, status)
        lease.release(runtime.store, experiment.spec.target, done.ref)
        return _reply(EventType.FAILED, done.ref, reason="HandlerFailed", message=result.message)
    try:
        prepare_routing(runtime.store, experiment)  # a Knative tag per version, say
        weights = read_weights(runtime.store, experiment)
    except (ValueError, NotFound) as error:
        left = leave_nothing_behind(runtime.store, experiment)
        message = f"cannot read the current weights: {error}" + (f"; {left}" if left else "")
        fail(status, "InvalidExperiment", message, now)
        done = state.write_status(runtime.store, snapshot, status)
        lease.release(runtime.store, experiment.spec.target, done.ref)
        return _reply(EventType.FAILED, done.ref, reason="InvalidExperiment", message=str(error))
    status.current_weight_distribution = _distribution(experiment, weights)
    status.version_recommended_for_promotion = experiment.versions[0].name
    status.start_time = status.last_update_time = timestamp(now)
    advance_stage(status, "Running")
    set_condition(status, "Completed", False, "StageAdvanced", "Advanced to Running", now)
    done = state.write_status(runtime.store, snapshot, status)
    return _reply(EventType.INITIALIZED, done.ref, stage="Running")


def _distribution(experiment: Experiment, weights: dict[str, int]) -> list[VersionWeight]:
    """Keyed by version name, in version order (v2 kept it by position, §3.9)."""
    return [
        VersionWeight(name=v.name, value=weights[v.name])
        for v in experiment.versions
        if v.name in weights
    ]


def _reply(event_type: EventType, ref: ExperimentRef, **data: Any) -> CloudEvent:
    return experiment_event(event_type, PHASE, ref, 0, **data)


def _catalog(store: Store, raw: dict[str, Any]) -> dict[MetricKey, Metric]:
    """Built-in metrics, then whatever the criteria name, read from the store."""
    catalog: dict[MetricKey, Metric] = dict(builtin_metrics())
    experiment, _ = load_lenient(Experiment, raw)
    if experiment is None:
        return catalog

    def lookup(key: MetricKey) -> Metric | None:
        try:
            return Metric.from_wire(store.get(METRICS, key.namespace, key.name))
        except (NotFound, ValueError):
            return None

    gather_metrics(lookup, catalog, [experiment])
    return catalog


def _experiments(store: Store, target: str) -> list[Experiment]:
    """The experiments on `target`, the only ones admission weighs. The others are not parsed:
    with n experiments created at once, n inits parsed n² experiments."""
    items, _ = store.list(EXPERIMENTS)
    same = [
        i for i in items if isinstance(i.get("spec"), dict) and i["spec"].get("target") == target
    ]
    loaded = (load_lenient(Experiment, item)[0] for item in same)
    return [e for e in loaded if e is not None]


def _alive(store: Store) -> lease.HolderAlive:
    def alive(holder: ExperimentRef) -> bool:
        snapshot = state.read(store, holder)
        return snapshot is not None and not is_completed(snapshot.status)

    return alive
