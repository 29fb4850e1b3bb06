"""analyze: run one iteration (gather data, fetch metrics, analyse, decide), or tick.

On `experiment.initialized` or `iteration.due`: the iteration's `loop` actions (at the start of
each loop, so the first iteration already has data), the metrics of every version, the
algorithm, and `status.analysis`; then `analysis.completed` (go on: route applies the weights)
or `experiment.concluded` (stop: promote finishes). On a PingSource tick: one `iteration.due` or
`initialization.due` per experiment that needs one, POSTed to the broker (`K_SINK`).
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import functions_framework
import httpx
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from flask import Request

from functions import state
from functions.analyze.planning import ParsedExperiments
from functions.http import Response, serve
from functions.runtime import Runtime
from iter8.analytics.algorithm import AnalysisInput, AnalysisResult
from iter8.analytics.assessment import status_analysis
from iter8.analytics.registry import DEFAULT_ALGORITHM, algorithms, get_algorithm
from iter8.api.experiment import Analysis, AnalysisBlock, Experiment, InProgress
from iter8.api.metric import Metric
from iter8.events import (
    BadEvent,
    EventType,
    ExperimentRef,
    event_data,
    experiment_event,
    tick_data,
)
from iter8.lifecycle import control, history, tick
from iter8.lifecycle.schedule import is_due
from iter8.lifecycle.status import parse_time, set_condition, timestamp
from iter8.metrics.builtin_data import BuiltinHists
from iter8.metrics.registry import fetch_all, providers, query_window
from iter8.metrics.secrets import from_store
from iter8.store import EXPERIMENTS
from iter8.tasks import TaskContext, run_action

PHASE = "analyze"
ACCEPTS = (
    EventType.INITIALIZED,
    EventType.ITERATION_DUE,
    EventType.PING,
)  # what its Trigger lets through
ALGORITHM_ANNOTATION = "iter8.tools/algorithm"
log = logging.getLogger("iter8.functions.analyze")


@functions_framework.http
def analyze(request: Request) -> Response:
    return serve(request, handle, PHASE, ACCEPTS)


def warm_up() -> None:
    """Called by `functions.server` before it serves: the algorithms and metrics providers an
    event may need (numpy, scipy: ~0.3 s), imported once by the server rather than on its
    first event. Importing this module alone loads neither."""
    algorithms()
    get_algorithm(DEFAULT_ALGORITHM)  # and the lookup's own list of modules
    providers()


def rehearse() -> None:
    """Called by `functions.server` in its worker before it serves: the first events,
    rehearsed on a scratch store (`functions.warmup`)."""
    from functions import warmup

    warmup.rehearse(handle)


def handle(event: CloudEvent, runtime: Runtime) -> CloudEvent | None:
    if event["type"] == EventType.PING:
        options = tick_data(event)
        post_due_events(runtime, timedelta(seconds=options.ahead_seconds), options.detach)
        return None
    data = event_data(event)
    iteration = 1 if event["type"] == EventType.INITIALIZED else data.iteration
    if iteration < 1:
        raise BadEvent("data.iteration: must be at least 1")
    ref = ExperimentRef(namespace=data.namespace, name=data.name, uid=data.uid)
    if not runtime.watches(ref.namespace):
        return None
    return state.retry_on_conflict(lambda: _iterate(runtime, ref, iteration))


def _iterate(runtime: Runtime, ref: ExperimentRef, iteration: int) -> CloudEvent | None:
    snapshot = state.read(runtime.store, ref)
    if snapshot is None:
        return None
    status = snapshot.status
    if status.stage == "Finishing" and status.analysis and status.analysis.decision:
        return _concluded(snapshot.ref, status.analysis)  # promote never got it: ask again
    if status.stage != "Running" or (status.completed_iterations or 0) != iteration - 1:
        return None  # late, early or repeated
    experiment = snapshot.experiment()
    forced = control.forced_decision(experiment)
    if status.analysis is not None and status.analysis.iteration == iteration and not forced:
        return _completed(snapshot.ref, status.analysis)  # analysed; route never got it
    now = runtime.now()
    if tick.busy(status, now, runtime.timeouts):
        return None  # another replica is on it
    if forced is not None:
        return _conclude_now(runtime, snapshot, forced, now)
    step = control.running_step(experiment)
    if step != "iterate":
        return _pause_or_resume(runtime, snapshot, step, now)
    if iteration > 1 and not is_due(experiment, now):
        return None
    status.in_progress = _claim(PHASE, iteration, now)
    snapshot = state.write_status(runtime.store, snapshot, status)

    hists = _gather(runtime, snapshot, experiment, iteration)
    result = _analyse(runtime, snapshot, experiment, iteration, hists)

    status = snapshot.status
    now = runtime.now()
    analysis = status_analysis(result, provenance=f"iter8/{PHASE}", timestamp=timestamp(now))
    split, stamp = status.current_weight_distribution, timestamp(now)
    kept = history.extended(status.analysis, analysis, split, iteration, stamp)
    status.analysis = Analysis.from_wire({**analysis, "iteration": iteration, "history": kept})
    if hists is not None:
        status.analysis.aggregated_builtin_hists = AnalysisBlock(
            provenance="metrics/collect",
            timestamp=timestamp(now),
            data=hists.to_wire(),
        )
    winner = result.winner_assessment
    status.version_recommended_for_promotion = (
        winner.winner if winner.winner_found and winner.winner else experiment.versions[0].name
    )
    if result.decision.action == "continue":
        status.in_progress = _claim("route", iteration, now)
        done = state.write_status(runtime.store, snapshot, status)
        return _completed(done.ref, status.analysis)
    status.stage = "Finishing"
    status.in_progress = _claim("promote", iteration, now)
    done = state.write_status(runtime.store, snapshot, status)
    return _concluded(done.ref, status.analysis)


def _conclude_now(
    runtime: Runtime, snapshot: state.Snapshot, decision: dict[str, Any], now: datetime
) -> CloudEvent:
    """An operator's abort or forced promotion: promote carries it out at once."""
    status = snapshot.status
    analysis = status.analysis or Analysis()
    analysis.decision = decision
    status.analysis = analysis
    kind, reason = (
        (control.CONDITION_ABORTED, "Aborted")
        if decision.get("control") == "abort"
        else (control.CONDITION_PROMOTION_FORCED, "PromotionForced")
    )
    set_condition(status, kind, True, reason, decision["reason"], now)
    status.stage = "Finishing"
    status.in_progress = _claim("promote", status.completed_iterations or 0, now)
    done = state.write_status(runtime.store, snapshot, status)
    return _concluded(done.ref, analysis)


def _pause_or_resume(
    runtime: Runtime, snapshot: state.Snapshot, step: control.RunningStep, now: datetime
) -> CloudEvent | None:
    """Mark a pause (iterations stop, the split stays) or its end in the `Paused` condition."""
    if step == "paused":
        return None  # marked already
    status = snapshot.status
    paused = step == "pause"
    message = (
        f"Paused by an operator after iteration {status.completed_iterations or 0}: "
        "no iteration runs and the split stays as it is until `iter8 resume`"
        if paused
        else "Resumed by an operator: iterations go on"
    )
    reason = "Paused" if paused else "Resumed"
    set_condition(status, control.CONDITION_PAUSED, paused, reason, message, now)
    done = state.write_status(runtime.store, snapshot, status)
    event_type = EventType.PAUSED if paused else EventType.RESUMED
    return experiment_event(
        event_type, PHASE, done.ref, status.completed_iterations or 0, message=message
    )


def _claim(phase: str, iteration: int, now: datetime) -> InProgress:
    return InProgress(phase=phase, by=PHASE, iteration=iteration, since=timestamp(now))


def _gather(
    runtime: Runtime, snapshot: state.Snapshot, experiment: Experiment, iteration: int
) -> BuiltinHists | None:
    """Run the `loop` action at the start of each loop; keep what `metrics/collect` measured."""
    status = snapshot.status
    previous = status.analysis.aggregated_builtin_hists if status.analysis else None
    hists = BuiltinHists.model_validate(previous.data) if previous and previous.data else None
    duration = experiment.spec.duration
    per_loop = (duration.iterations_per_loop if duration else None) or 15
    loop = (experiment.spec.strategy.actions or {}).get("loop") or []
    if loop and (iteration - 1) % per_loop == 0:
        context = TaskContext(experiment=experiment, store=runtime.store, builtin_hists=hists)
        result = run_action(loop, context)
        if not result.ok:
            log.warning("%s: loop action failed: %s", snapshot.ref, result.message)
        hists = context.builtin_hists
    return hists


def _analyse(
    runtime: Runtime,
    snapshot: state.Snapshot,
    experiment: Experiment,
    iteration: int,
    hists: BuiltinHists | None,
) -> AnalysisResult:
    status = snapshot.status
    metrics = {m.name: Metric.from_wire(m.metric_obj) for m in status.metrics or [] if m.metric_obj}
    started = parse_time(status.start_time or status.init_time or timestamp(runtime.now()))
    elapsed = (runtime.now() - started).total_seconds()
    observations = fetch_all(
        metrics.values(),
        experiment.versions,
        elapsed_seconds=elapsed,
        secrets=from_store(runtime.store),
        experiment_namespace=experiment.namespace,
        builtin=hists,
        seed=_seed(runtime, snapshot.ref, iteration),
    )
    annotations = experiment.metadata.annotations or {}
    algorithm = get_algorithm(annotations.get(ALGORITHM_ANNOTATION, DEFAULT_ALGORITHM))
    given = AnalysisInput(
        experiment=experiment,
        metrics=metrics,
        observations=observations,
        seed=_seed(runtime, snapshot.ref, iteration),
        elapsed_seconds=query_window(elapsed),
    )
    return algorithm.analyze(given)


def _seed(runtime: Runtime, ref: ExperimentRef, iteration: int) -> int:
    """Reproducible per experiment and iteration; fixed by `ITER8_SEED` when given."""
    base = runtime.seed if runtime.seed is not None else zlib.crc32(f"{ref}/{ref.uid}".encode())
    return (base * 1_000_003 + iteration) % 2**32


def _completed(ref: ExperimentRef, analysis: Analysis) -> CloudEvent:
    weights = analysis.weights.data if analysis.weights else []
    winner = analysis.winner_assessment.data if analysis.winner_assessment else {}
    return experiment_event(
        EventType.ANALYSIS_COMPLETED,
        PHASE,
        ref,
        analysis.iteration or 0,
        weights=weights,
        winnerAssessment=winner,
        decision=analysis.decision,
    )


def _concluded(ref: ExperimentRef, analysis: Analysis) -> CloudEvent:
    decision = analysis.decision or {}
    return experiment_event(
        EventType.CONCLUDED,
        PHASE,
        ref,
        analysis.iteration or 0,
        outcome=decision.get("action"),
        winner=decision.get("version"),
        reason=decision.get("reason"),
    )


def post_due_events(runtime: Runtime, ahead: timedelta = timedelta(0), detach: bool = False) -> int:
    """The tick: one event per experiment that needs one, POSTed to the broker; with `ahead`,
    also one per iteration falling due within it, POSTed at its due time. The tick returns
    after the last, or with `detach` at once, its POSTs leaving from a thread of their own
    (`DetachedTicks`). The number of events posted, or with `detach` to be posted.

    The POSTs go out side by side (at most `ITER8_TICK_CONCURRENCY`, default 16): a synchronous
    broker answers each one only when its whole chain (analyze, route, sinks) is done, so one
    after the other the last of 200 due experiments would wait for the 199 chains before it.
    """
    if not runtime.sink:
        raise BadEvent("a tick needs K_SINK, the broker URL, to post iteration events to")
    items, _ = runtime.store.list(EXPERIMENTS, runtime.namespace)
    now, started = runtime.now(), time.monotonic()
    requests = _DETACHED.not_pending(
        tick.plan(PARSED.experiments(items), now, runtime.timeouts, ahead)
    )
    if not detach:
        return _post_all(runtime.sink, requests, now, started)
    if requests and _DETACHED.start(
        requests, lambda: _post_all(runtime.sink, requests, now, started)
    ):
        return len(requests)
    return 0  # two ticks' POSTs under way already: the next tick plans these again


def _post_all(sink: str, requests: list[tick.Request], now: datetime, started: float) -> int:
    """POST each request (those for now first, then each at its due time); how many were
    taken."""
    if not requests:
        return 0
    client = _tick_client()
    workers = min(len(requests), TICK_CONCURRENCY)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tick") as pool:
        posted = []
        for request in requests:  # those for now first, then by due time
            if request.at is not None:
                _wait_for(request.at, now, started)
            posted.append(
                pool.submit(contextvars.copy_context().run, _post_due, client, sink, request)
            )
        return sum(future.result() for future in posted)


class DetachedTicks:
    """Ticks whose POSTs go on after the tick was answered, each on a thread of its own: at
    most `limit` at once, and what one of them will post is left out of the next ticks' plans
    (else a tick's POSTs held up by busy chains had the next tick post the same iteration
    again: a second chain for analyze to drop).

    For the embedded stack's synchronous broker, which answers the PingSource only once every
    chain the tick started is done: a tick held by its chains and by its look-ahead outlasted
    its period, the next one was skipped, and its iterations ran a tick late (100 experiments
    at 1 s: lag p50 0.88 s, 19-136 of 900 iterations more than a tick late; detached, 0.01-0.4 s
    and 0-34). Never on Knative, which may take a function's CPU away once it has answered.
    """

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._pending: set[tuple[str, str, int]] = set()

    def not_pending(self, requests: list[tick.Request]) -> list[tick.Request]:
        with self._lock:
            return [r for r in requests if _key(r) not in self._pending]

    def start(self, requests: list[tick.Request], post: Callable[[], object]) -> bool:
        """Run `post` (which posts `requests`) on a thread of its own; False if `limit` are
        under way."""
        if not self._slots.acquire(blocking=False):
            return False
        keys = {_key(request) for request in requests}
        with self._lock:
            self._pending |= keys

        def run() -> None:
            try:
                post()
            except Exception:
                log.exception("a detached tick failed; the next tick plans again")
            finally:
                with self._lock:
                    self._pending -= keys
                self._slots.release()

        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(run,), name="tick-detached", daemon=True).start()
        return True


def _key(request: tick.Request) -> tuple[str, str, int]:
    metadata = request.experiment.metadata
    experiment = f"{request.experiment.namespace}/{metadata.name}/{metadata.uid}"
    return (str(request.type), experiment, request.iteration)


def _wait_for(at: datetime, planned: datetime, planned_at: float) -> None:
    """Sleep until `at`, counted from when the plan was made: `planned` on the runtime's clock,
    `planned_at` on this process' monotonic one (a test's clock does not move by itself)."""
    time.sleep(max(0.0, (at - planned).total_seconds() - (time.monotonic() - planned_at)))


PARSED = ParsedExperiments()  # the tick's, kept from one tick to the next
_DETACHED = DetachedTicks(limit=2)
TICK_CONCURRENCY = max(1, int(os.environ.get("ITER8_TICK_CONCURRENCY", "16")))


@cache
def _tick_client() -> httpx.Client:
    """One client per process for the tick (a new one costs tens of ms for its TLS context)."""
    limits = httpx.Limits(
        max_connections=TICK_CONCURRENCY, max_keepalive_connections=TICK_CONCURRENCY
    )
    return httpx.Client(timeout=10, limits=limits)


def _post_due(client: httpx.Client, sink: str, request: tick.Request) -> bool:
    ref = ExperimentRef(
        namespace=request.experiment.namespace,
        name=request.experiment.metadata.name or "",
        uid=request.experiment.metadata.uid or "",
    )
    event = experiment_event(request.type, PHASE, ref, request.iteration)
    headers, body = to_binary(event)
    try:
        response = client.post(sink, headers=headers, content=body)
    except httpx.HTTPError as error:
        log.warning("cannot post %s for %s: %s", request.type, ref, error)
        return False
    if not response.is_success:
        log.warning("broker refused %s for %s: %s", request.type, ref, response.status_code)
    return response.is_success
