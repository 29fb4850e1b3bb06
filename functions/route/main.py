"""route: apply the weights of an analysis to every routed object, and complete the iteration.

On `analysis.completed` for iteration n: the weights recorded in `status.analysis` (the status
is the source of truth, not the event) go to each `weightObjRef` — one JSON patch per object,
with a resourceVersion precondition — only for a Progressive ramp: Conformance has no split,
FixedSplit keeps the user's and BlueGreen keeps the candidate at 0% until promote switches it.
When the weights cannot be applied the experiment fails, and its mirror and test routes are
removed first (a store error worth retrying is left to the broker's and the tick's retries);
when a routed object says a version is not ready for more traffic yet (`NotReady`, nothing
written), the split in force is kept, the iteration completes saying so, and the next may move it.
The split then read back becomes `currentWeightDistribution`, keyed by version name; the
iteration counts as complete; reply `weights.applied`.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent
from flask import Request

from functions import lease, state
from functions.http import Response, serve
from functions.runtime import Runtime
from iter8.api.experiment import Experiment, VersionWeight
from iter8.events import EventType, ExperimentRef, event_data, experiment_event
from iter8.lifecycle.status import fail, set_condition, timestamp
from iter8.routing import (
    NotReady,
    RoutingError,
    apply_weights,
    leave_nothing_behind,
    read_weights,
    weights_are_applied,
    worth_retrying,
)
from iter8.store import Conflict, StoreError

PHASE = "route"
ACCEPTS = (EventType.ANALYSIS_COMPLETED,)  # what its Trigger lets through


@functions_framework.http
def route(request: Request) -> Response:
    return serve(request, handle, PHASE, ACCEPTS)


def handle(event: CloudEvent, runtime: Runtime) -> CloudEvent | None:
    data = event_data(event)
    ref = ExperimentRef(namespace=data.namespace, name=data.name, uid=data.uid)
    if not runtime.watches(ref.namespace):
        return None
    return state.retry_on_conflict(lambda: _route(runtime, ref, data.iteration))


def routes_traffic(experiment: Experiment) -> bool:
    """Whether iterations move traffic (`iter8.routing.weights_are_applied`, which reads an
    unset deploymentPattern as its default, Progressive: no defaulted copy is needed)."""
    return weights_are_applied(experiment)


def _route(runtime: Runtime, ref: ExperimentRef, iteration: int) -> CloudEvent | None:
    snapshot = state.read(runtime.store, ref)
    if snapshot is None:
        return None
    status = snapshot.status
    analysis = status.analysis
    if (
        status.stage != "Running"
        or (status.completed_iterations or 0) != iteration - 1
        or analysis is None
        or analysis.iteration != iteration
    ):
        return None  # late, repeated, or not analysed yet
    experiment = snapshot.experiment()
    now = runtime.now()
    completed = f"Completed Iteration {iteration}"
    if routes_traffic(experiment):
        weights = {
            w["name"]: int(w["value"]) for w in (analysis.weights.data if analysis.weights else [])
        }
        try:
            try:
                apply_weights(runtime.store, experiment, weights)
            except NotReady as held:
                completed += f"; split held, not moved to {weights}: {held}"
            current = read_weights(runtime.store, experiment)
        except Conflict:
            raise  # still contended after the router's own retries: let the broker retry
        except (RoutingError, StoreError, ValueError) as error:
            if isinstance(error, StoreError) and worth_retrying(error):
                raise  # the server may recover: the broker (or the tick) retries
            message = f"Cannot apply weights {weights}: {getattr(error, 'message', error)}"
            left = leave_nothing_behind(runtime.store, experiment)  # its mirror goes all the same
            if left is not None:
                message += f"; {left}"
            fail(status, "WeightRedistributionFailed", message, now)
            status.in_progress = None
            done = state.write_status(runtime.store, snapshot, status)
            lease.release(runtime.store, experiment.spec.target, done.ref)
            return experiment_event(
                EventType.FAILED,
                PHASE,
                done.ref,
                iteration,
                reason="WeightRedistributionFailed",
                message=message,
            )
        status.current_weight_distribution = [
            VersionWeight(name=v.name, value=current[v.name])
            for v in experiment.versions
            if v.name in current
        ]
    status.completed_iterations = iteration
    status.last_update_time = timestamp(now)
    status.in_progress = None
    set_condition(status, "Completed", False, "IterationUpdate", completed, now)
    done = state.write_status(runtime.store, snapshot, status)
    split = [w.to_wire() for w in status.current_weight_distribution or []]
    # `routed: false` (Conformance, FixedSplit, BlueGreen): the iteration completed, no split moved
    return experiment_event(
        EventType.WEIGHTS_APPLIED,
        PHASE,
        done.ref,
        iteration,
        weights=split,
        routed=routes_traffic(experiment),
    )
