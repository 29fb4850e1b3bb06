"""However an experiment ends — promoted, rolled back, aborted, failed in route, failed in
promote — its mirror and test routes do not outlive it. The four handlers run in-process on a
real store (the embedded SQLite one, and the real kube-apiserver with the real Istio and Gateway
API CRDs); the test hands each reply on as the broker would, and re-delivers an event whose
handler failed with an error worth retrying (the broker's retry).

Failures are injected at the store: a wrapper refuses the routed object's weight patches (as an
admission webhook or a quota would, HTTP 422) or fails a clean-up patch once (HTTP 503); every
other call goes to the real store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from cloudevents.http import CloudEvent

from functions.runtime import Runtime
from iter8.api.experiment import Experiment
from iter8.events import TERMINAL, EventType, ExperimentRef, experiment_event
from iter8.lifecycle import tick
from iter8.lifecycle.status import condition
from iter8.routing import worth_retrying
from iter8.store import EXPERIMENTS, METRICS, Invalid, StoreError
from iter8.store.base import Object, PatchType, Store
from iter8.store.resources import Resource
from iter8.store.sqlite import SqliteStore
from tests.e2e.builders import experiment, mock_metric, version
from tests.e2e_kube.traffic import TARGETS, Target, leftovers
from tests.functions.harness import Clock, add_event, deliver

NAME = "exp"
LIMIT = 200  # ms; a mocked Gauge stays within (0, 2·level]: level 50 passes, 10000 fails
GOOD, BAD = 50.0, 10000.0


@pytest.fixture
def clock() -> Clock:
    """Starts now: on a shared API server, functions serving elsewhere (a Knative
    ApiServerSource watches every namespace) see this test's claims as fresh and stand back."""
    return Clock(datetime.now(UTC))


@pytest.fixture(params=["sqlite", "kubernetes"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Store, str]]:
    """A real store and the namespace the test works in."""
    if request.param == "sqlite":
        store = SqliteStore(tmp_path / "store.db")
        yield store, "default"
        store.close()
        return
    from iter8.store.kubernetes import KubernetesStore

    request.getfixturevalue("traffic_crds")
    ns = request.getfixturevalue("kube_namespace")
    monkeypatch.setenv("ITER8_NAMESPACE", ns)  # the target Lease goes in the test's namespace
    yield KubernetesStore.from_kubeconfig(request.getfixturevalue("kube_config")), ns


class Faulty:
    """A real store whose patches of the routed object fail as `refuse` says: `refuse(patch)`
    returns the error to raise instead of patching, or None to patch."""

    def __init__(self, inner: Store, kind: str, refuse: Callable[[list[Object]], Exception | None]):
        self.inner, self.kind, self.refuse = inner, kind, refuse

    def patch(
        self, resource: Resource, namespace: str, name: str, patch: Any, *args: Any, **kw: Any
    ) -> Object:
        if resource.kind == self.kind:
            error = self.refuse(patch)
            if error is not None:
                raise error
        return self.inner.patch(resource, namespace, name, patch, *args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def sets_weights(patch: list[Object]) -> bool:
    return any(op["op"] != "remove" for op in patch)


def refuse_weights(patch: list[Object]) -> Exception | None:
    return (
        Invalid("admission webhook denied the request: weights frozen")
        if sets_weights(patch)
        else None
    )


def setup(
    store: Store,
    target: Target,
    ns: str,
    pattern: str,
    level: float,
    start: list[Object] | None = None,
) -> Object:
    """The routed object with a 20% mirror to v2 and a test route to v2, the metric, the
    experiment; the experiment's manifest."""
    target.create(store, ns, (100, 0), mirror=20)
    baseline_ref, candidate_ref = target.refs(ns)
    exp = experiment(
        NAME,
        "Canary",
        [version("v1", baseline_ref), version("v2", candidate_ref)],
        criteria={"objectives": [{"metric": f"{ns}/latency", "upperLimit": LIMIT}]},
        algorithm="iter8-v2",
        iterations=3,
        namespace=ns,
        actions={"start": start} if start else None,
    )
    exp["spec"]["strategy"]["deploymentPattern"] = pattern
    store.create(METRICS, mock_metric("latency", {"v1": GOOD, "v2": level}, namespace=ns))
    store.create(EXPERIMENTS, exp)
    return exp


def run(
    runtime: Runtime,
    clock: Clock,
    ns: str,
    manifest: Object,
    on_event: Callable[[CloudEvent], None] = lambda _: None,
) -> list[str]:
    """Deliver the add, then every reply and every event the tick asks for, until the experiment
    completes; an event whose handler fails with an error worth retrying is delivered again.
    The event types seen."""
    seen: list[str] = []
    pending = [add_event(manifest)]
    for _ in range(60):
        while pending:
            event = pending.pop(0)
            seen.append(event["type"])
            on_event(event)
            if EventType(event["type"]) in (EventType.WEIGHTS_APPLIED, *TERMINAL):
                continue  # for the sinks
            try:
                reply = deliver(runtime, event)
            except StoreError as error:
                assert worth_retrying(error), error
                seen.append("retried")
                pending.append(event)
                continue
            if reply is not None:
                pending.append(reply)
        if stored(runtime, ns).status.stage == "Completed":
            return seen
        clock.advance(1)
        listed = [Experiment.from_wire(e) for e in runtime.store.list(EXPERIMENTS, ns)[0]]
        pending = [
            experiment_event(r.type, "analyze", _ref(r.experiment), r.iteration)
            for r in tick.plan(listed, clock(), runtime.timeouts)
        ]
    raise AssertionError(f"did not complete: {seen[-10:]}")


def _ref(exp: Experiment) -> ExperimentRef:
    return ExperimentRef(namespace=exp.namespace, name=NAME, uid=exp.metadata.uid or "")


def stored(runtime: Runtime, ns: str) -> Experiment:
    return Experiment.from_wire(runtime.store.get(EXPERIMENTS, ns, NAME))


def routed(store: Store, target: Target, ns: str) -> Object:
    return store.get(target.resource, ns, "app")


MIRRORED = ["istio", "gateway-api"]


@pytest.mark.parametrize("name", MIRRORED)
@pytest.mark.parametrize(("level", "split"), [(GOOD, (0, 100)), (BAD, (100, 0))])
def test_a_promotion_or_a_rollback_leaves_no_mirror(
    name: str,
    level: float,
    split: tuple[int, int],
    backend: tuple[Store, str],
    clock: Clock,
) -> None:
    store, ns = backend
    target = TARGETS[name]
    manifest = setup(store, target, ns, "Progressive", level)
    seen = run(Runtime(store=store, now=clock, seed=7, namespace=ns), clock, ns, manifest)
    assert seen[-1] == EventType.PROMOTED  # v2, or v1 back (the baseline wins)
    final = routed(store, target, ns)
    assert target.split(final) == split
    assert leftovers(target, final) == []


@pytest.mark.parametrize("name", MIRRORED)
def test_an_abort_leaves_no_mirror(name: str, backend: tuple[Store, str], clock: Clock) -> None:
    store, ns = backend
    target = TARGETS[name]
    manifest = setup(store, target, ns, "Progressive", GOOD)

    def abort_after_the_first_iteration(event: CloudEvent) -> None:
        if event["type"] == EventType.WEIGHTS_APPLIED and int(event["iteration"]) == 1:
            patch = {"metadata": {"annotations": {"iter8.tools/abort": "a test"}}}
            store.patch(EXPERIMENTS, ns, NAME, patch, PatchType.MERGE)

    runtime = Runtime(store=store, now=clock, seed=7, namespace=ns)
    seen = run(runtime, clock, ns, manifest, abort_after_the_first_iteration)
    assert seen[-1] == EventType.ABORTED
    final = routed(store, target, ns)
    assert target.split(final) == (100, 0)
    assert leftovers(target, final) == []


@pytest.mark.parametrize("name", MIRRORED)
def test_a_failed_route_step_leaves_no_mirror(
    name: str, backend: tuple[Store, str], clock: Clock
) -> None:
    """Every weight patch is refused: the first iteration's route fails the experiment, which
    still removes the mirror and the test route (one patch that sets no weight)."""
    store, ns = backend
    target = TARGETS[name]
    manifest = setup(store, target, ns, "Progressive", GOOD)
    faulty = cast(Store, Faulty(store, target.kind[1], refuse_weights))
    seen = run(Runtime(store=faulty, now=clock, seed=7, namespace=ns), clock, ns, manifest)
    assert seen[-1] == EventType.FAILED
    failed = condition(stored(Runtime(store=store), ns).status, "Failed")
    assert failed is not None and failed.reason == "WeightRedistributionFailed", failed
    assert "weights frozen" in (failed.message or "")
    final = routed(store, target, ns)
    assert target.split(final) == (100, 0)  # the split stays where it was
    assert leftovers(target, final) == []


@pytest.mark.parametrize("name", MIRRORED)
def test_a_failed_promotion_leaves_no_mirror(
    name: str, backend: tuple[Store, str], clock: Clock
) -> None:
    """BlueGreen: route never writes; promote's switch 0 → 100 is refused, so the experiment
    fails with the split as it was and the mirror gone."""
    store, ns = backend
    target = TARGETS[name]
    manifest = setup(store, target, ns, "BlueGreen", GOOD)
    faulty = cast(Store, Faulty(store, target.kind[1], refuse_weights))
    seen = run(Runtime(store=faulty, now=clock, seed=7, namespace=ns), clock, ns, manifest)
    assert seen[-1] == EventType.FAILED
    failed = condition(stored(Runtime(store=store), ns).status, "Failed")
    assert failed is not None and "Cannot send all traffic to v2" in (failed.message or "")
    final = routed(store, target, ns)
    assert target.split(final) == (100, 0)
    assert leftovers(target, final) == []


@pytest.mark.parametrize("name", MIRRORED)
def test_a_clean_up_that_fails_for_a_while_is_retried_before_the_experiment_ends(
    name: str, backend: tuple[Store, str], clock: Clock
) -> None:
    """The route step fails for good; the clean-up's first patch meets an unavailable server
    (503): the handler fails (the broker retries) before it writes the end, so the retry
    removes the mirror. Had the experiment ended first, nobody would remove it."""
    store, ns = backend
    target = TARGETS[name]
    manifest = setup(store, target, ns, "Progressive", GOOD)
    unavailable = [StoreError("the server is currently unable to handle the request")]
    unavailable[0].code = 503

    def refuse(patch: list[Object]) -> Exception | None:
        if sets_weights(patch):
            return refuse_weights(patch)
        return unavailable.pop() if unavailable else None

    faulty = cast(Store, Faulty(store, target.kind[1], refuse))
    runtime = Runtime(store=faulty, now=clock, seed=7, namespace=ns)
    seen = run(runtime, clock, ns, manifest)
    assert seen.count("retried") == 1 and seen[-1] == EventType.FAILED
    assert leftovers(target, routed(store, target, ns)) == []


def test_nothing_is_patched_when_nothing_is_left(tmp_path: Path) -> None:
    """An experiment without a mirror or test route: the clean-up writes nothing."""
    from iter8.routing import remove_shaping
    from tests.routing.conftest import Recording

    store = SqliteStore(tmp_path / "store.db")
    with contextlib.closing(store):
        target = TARGETS["istio"]
        obj = target.make("default", (100, 0))
        del obj["spec"]["http"][0]  # no test route
        store.create(target.resource, obj)
        baseline_ref, candidate_ref = target.refs("default")
        baseline_ref["fieldPath"] = ".spec.http[0].route[0].weight"
        candidate_ref["fieldPath"] = ".spec.http[0].route[1].weight"
        manifest = experiment(
            NAME, "Canary", [version("v1", baseline_ref), version("v2", candidate_ref)]
        )
        recording = Recording(store)
        assert remove_shaping(recording.store, Experiment.from_wire(manifest)) == ()
        assert recording.patches == []


@pytest.mark.parametrize("name", MIRRORED)
def test_a_failed_start_leaves_no_mirror(
    name: str, backend: tuple[Store, str], clock: Clock
) -> None:
    """The `start` action fails after init took the target: init ends the experiment, and the
    mirror the dark launch would have used goes with it."""
    store, ns = backend
    target = TARGETS[name]
    manifest = setup(store, target, ns, "Progressive", GOOD, start=[{"run": "exit 3"}])
    seen = run(Runtime(store=store, now=clock, seed=7, namespace=ns), clock, ns, manifest)
    assert seen[-1] == EventType.FAILED
    failed = condition(stored(Runtime(store=store), ns).status, "Failed")
    assert failed is not None and failed.reason == "HandlerFailed", failed
    assert leftovers(target, routed(store, target, ns)) == []
