"""KServe end to end on the real API server with the real KServe v0.20.0 CRD: `iter8 run` takes a
Progressive canary on an InferenceService (`serving.kserve.io/v1beta1`,
`.spec.predictor.canaryTrafficPercent`) through init, analyze, route and promote on mocked
metrics, and every state the object went through is read back from the server (a watch from its
creation).

No KServe controller runs here: the test writes the InferenceService's status as KServe's
controller would (condition `Ready`, the predictor's latest created and ready revisions), and
the router reads readiness from it. Also: Iter8 v2's own KFServing quickstart (from the shared
compat folder) still runs on the real API server, with KFServing v0.6.0's CRD installed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from iter8.store import StoreError
from iter8.store.kubernetes import KubernetesStore
from iter8.store.resources import EXPERIMENTS, Resource
from tests.compat import samples_dir
from tests.e2e_kube.test_patterns import changes, drive, run_objects
from tests.e2e_kube.test_run import iter8_run
from tests.e2e_kube.traffic import TARGETS, Object, history
from tests.routing.objects import KFSERVING, inference_service, isvc_status

pytestmark = pytest.mark.kube

KSERVE = TARGETS["kserve"]
ISTIO_V1ALPHA3 = Resource.from_api_version("networking.istio.io/v1alpha3", "VirtualService")


def test_a_progressive_canary_on_an_inference_service_is_promoted(
    kube_config: str,
    kube_client: client.ApiClient,
    kube_namespace: str,
    traffic_crds: list[str],
    tmp_path: Path,
) -> None:
    states: list[Object] = []
    output, splits, final = drive(
        KSERVE, kube_config, kube_namespace, tmp_path, "Progressive", (100, 0), 50, states=states
    )
    status = output["status"]
    assert status["analysis"]["decision"]["action"] == "promote", status
    assert status["versionRecommendedForPromotion"] == "v2"
    ramp = [candidate for _, candidate in changes(splits)]
    assert ramp[0] == 0 and ramp[-1] == 100
    assert len(ramp) > 2, f"a ramp, not a switch: {ramp}"  # Progressive moved in steps
    assert ramp == sorted(ramp), ramp  # a candidate meeting its objectives only gains
    assert final["spec"]["predictor"]["canaryTrafficPercent"] == 100
    # every raise happened on an InferenceService whose status said it was ready
    assert all(s["status"]["conditions"][0]["status"] == "True" for s in states[1:])


def _not_ready() -> Object:
    status = isvc_status("False", created="iris-3", latest="iris-2")
    status["conditions"][0]["reason"] = "RevisionMissing"
    return status


def test_a_canary_that_never_gets_ready_gets_no_traffic(
    kube_config: str,
    kube_client: client.ApiClient,
    kube_namespace: str,
    traffic_crds: list[str],
    tmp_path: Path,
) -> None:
    """The controller says the new revision is not ready (`Ready` False, latest created ≠ latest
    ready) throughout: every iteration holds the split, saying why, and does not fail; the
    promotion at the end, which cannot wait, is refused, and the canary never got traffic."""
    ns = kube_namespace
    store = KubernetesStore.from_kubeconfig(kube_config)
    created = store.create(KSERVE.resource, inference_service(0, ns=ns))
    created = store.replace_status(KSERVE.resource, {**created, "status": _not_ready()})
    run = iter8_run(kube_config, tmp_path, ns, run_objects(KSERVE, ns, "Progressive", 50))
    assert run.code == 1, run.stderr
    status = run.output["status"]
    assert status["completedIterations"] == 3, status["conditions"]  # held at each, not failed
    held = [e.weights for e in run.events if e.event == "weights.applied"]
    assert len(held) >= 2 and all(w == {"v1": 100, "v2": 0} for w in held), run.events
    failed = {c["type"]: c for c in status["conditions"]}["Failed"]
    assert failed["status"] == "True"
    assert "condition Ready is False (RevisionMissing)" in failed["message"]
    seen = list(history(store, KSERVE, ns, created["metadata"]["resourceVersion"]))
    assert all(KSERVE.split(s) == (100, 0) for s in [created, *seen])


def test_a_canary_held_while_not_ready_ramps_once_ready(
    kube_config: str,
    kube_client: client.ApiClient,
    kube_namespace: str,
    traffic_crds: list[str],
    tmp_path: Path,
) -> None:
    """Not ready at first: the first iteration holds the split (its condition says so); once
    the controller reports the revision ready, the next iterations ramp and the canary is
    promoted. Before `NotReady`, the first refusal failed the experiment."""
    ns = kube_namespace
    store = KubernetesStore.from_kubeconfig(kube_config)
    created = store.create(KSERVE.resource, inference_service(0, ns=ns))
    created = store.replace_status(KSERVE.resource, {**created, "status": _not_ready()})
    messages: list[str] = []
    stop = threading.Event()

    def ready_after_first_iteration() -> None:
        """The controller's part: report the revision ready once iteration 1 completed."""
        while not stop.wait(0.02):
            try:
                exp = store.get(EXPERIMENTS, ns, "app")
            except StoreError:
                continue
            status = exp.get("status") or {}
            if (status.get("completedIterations") or 0) >= 1:
                messages.append(status.get("message") or "")
                isvc = store.get(KSERVE.resource, ns, created["metadata"]["name"])
                store.replace_status(KSERVE.resource, {**isvc, "status": isvc_status()})
                return

    controller = threading.Thread(target=ready_after_first_iteration, daemon=True)
    controller.start()
    try:
        objects = run_objects(KSERVE, ns, "Progressive", 50)
        objects[-1]["spec"]["duration"]["iterationsPerLoop"] = 5
        run = iter8_run(kube_config, tmp_path, ns, objects)
    finally:
        stop.set()
        controller.join(timeout=5)
    assert run.code == 0, run.stderr
    status = run.output["status"]
    assert status["analysis"]["decision"]["action"] == "promote", status
    assert messages and "split held" in messages[0], messages
    assert "condition Ready is False (RevisionMissing)" in messages[0]
    seen = list(history(store, KSERVE, ns, created["metadata"]["resourceVersion"]))
    splits = [KSERVE.split(s) for s in [created, *seen]]
    assert splits[-1] == (0, 100), splits
    # every raise of the canary's share was made on an object whose status said it was ready
    for before, after in zip([created, *seen], seen, strict=False):
        if KSERVE.split(after)[1] > KSERVE.split(before)[1]:
            assert before["status"]["conditions"][0]["status"] == "True", (before, after)


def kfserving_quickstart(ns: str) -> list[Object]:
    """Iter8 v2's KFServing quickstart as written, but: its namespaces (`default`,
    `iter8-kfserving`, the InferenceServices' own) are the test's; `intervalSeconds` is 1; its
    finish actions (`kubectl apply -f https://…`: no kubectl, no network) are left out, the final
    split being promote's. Plus what the sample assumes exists: the VirtualService it routes,
    stored as `v1alpha3` as it names it, and the two KFServing InferenceServices behind it."""
    directory = samples_dir()
    exp = yaml.safe_load((directory / "kfserving-quickstart-experiment.yaml").read_text())
    metrics = [
        doc
        for doc in yaml.safe_load_all((directory / "kfserving-quickstart-metrics.yaml").read_text())
        if doc and doc["kind"] == "Metric"
    ]
    exp["metadata"]["namespace"] = ns
    exp["spec"]["duration"]["intervalSeconds"] = 1
    del exp["spec"]["strategy"]["actions"]
    for reward in exp["spec"]["criteria"]["rewards"]:
        reward["metric"] = reward["metric"].replace("iter8-kfserving/", f"{ns}/")
    info = exp["spec"]["versionInfo"]
    versions = [info["baseline"], *info["candidates"]]
    for v in versions:
        v["weightObjRef"]["namespace"] = ns
    for metric in metrics:
        metric["metadata"]["namespace"] = ns
    route = [
        {"destination": {"host": f"flowers-predictor-default.ns-{who}.svc.cluster.local"}}
        | {"weight": weight}
        for who, weight in (("baseline", 100), ("candidate", 0))
    ]
    virtual_service = {
        "apiVersion": versions[0]["weightObjRef"]["apiVersion"],
        "kind": "VirtualService",
        "metadata": {"name": versions[0]["weightObjRef"]["name"], "namespace": ns},
        "spec": {
            "hosts": ["example.com"],
            "gateways": ["kfserving-gateway"],
            "http": [{"route": route}],
        },
    }
    services = []
    for version in versions:
        isvc = inference_service(None, KFSERVING, ns)
        isvc["metadata"]["name"] = version["name"]
        services.append(isvc)
    return [*metrics, virtual_service, *services, exp]


def test_iter8_v2_kfserving_quickstart_still_works(
    kube_config: str,
    kube_client: client.ApiClient,
    kube_namespace: str,
    traffic_crds: list[str],
    tmp_path: Path,
) -> None:
    objects = kfserving_quickstart(kube_namespace)
    run = iter8_run(kube_config, tmp_path, kube_namespace, objects)
    assert run.code == 0, run.stderr
    status = run.output["status"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert status["stage"] == "Completed" and conditions["Failed"]["status"] == "False"
    kept = status["versionRecommendedForPromotion"]  # the evidence of 5 iterations decides
    split = {w["name"]: w["value"] for w in status["currentWeightDistribution"]}
    assert split == {v: 100 if v == kept else 0 for v in ("flowers-v1", "flowers-v2")}
    store = KubernetesStore.from_kubeconfig(kube_config)
    routed = store.get(ISTIO_V1ALPHA3, kube_namespace, "routing-rule")
    weights = [r["weight"] for r in routed["spec"]["http"][0]["route"]]
    assert weights == [split["flowers-v1"], split["flowers-v2"]]
