"""The RBAC of eventing/config, proven on a real kube-apiserver rather than assumed.

The base's ServiceAccounts, Roles and bindings are created (in a fresh namespace, with the
cluster-wide names suffixed so that runs never meet). Then:
* the real handlers of `functions/*/main.py` run an experiment from `add` to `promoted`, each
  through a KubernetesStore that impersonates its own function's account: the rights suffice;
* a SubjectAccessReview matrix (every account × verb × resource × namespace) equals RBAC_TABLE
  exactly, and writes outside it are refused by the server: the rights are the least.

Metric Secrets are the one right bound per namespace: the fixture creates, in the user's
namespace only, the RoleBinding that docs/cluster.md tells an operator to create for each tenant
namespace; analyze may read Secrets there, and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import product
from typing import Any

import pytest
from cloudevents.http import CloudEvent, from_http
from kubernetes import client, config

from functions.analyze import main as analyze
from functions.init import main as init
from functions.promote import main as promote
from functions.route import main as route
from functions.runtime import Runtime
from iter8.demo.experiment import knative_service
from iter8.events import EventType
from iter8.kustomize import build, relocate
from iter8.lifecycle.tick import Timeouts
from iter8.metrics.secrets import from_store
from iter8.routing.objects import resource_for
from iter8.store import EXPERIMENTS, METRICS, NotFound, PatchType, StoreError
from iter8.store.kubernetes import KubernetesStore
from iter8.store.resources import KNATIVE_SERVICES, LEASES, NAMESPACES, SECRETS, Resource
from tests.functions.harness import Clock, add_event, canary, mock_metric

pytestmark = pytest.mark.kube

RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
SUBJECT_ACCESS_REVIEWS = Resource(
    "authorization.k8s.io",
    "v1",
    "subjectaccessreviews",
    "SubjectAccessReview",
    namespaced=False,
    status_subresource=False,
)
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
EXPERIMENTS_ = ("iter8.tools", "experiments")
STATUS = ("iter8.tools", "experiments/status")
METRICS_ = ("iter8.tools", "metrics")
SECRETS_ = ("", "secrets")
LEASES_ = ("coordination.k8s.io", "leases")
KSVC = ("serving.knative.dev", "services")
VS = ("networking.istio.io", "virtualservices")
TS = ("split.smi-spec.io", "trafficsplits")
HTTPROUTE = ("gateway.networking.k8s.io", "httproutes")
ISVC = ("serving.kserve.io", "inferenceservices")
ISVC_KFSERVING = ("serving.kubeflow.org", "inferenceservices")
ROUTED = (KSVC, VS, TS, HTTPROUTE, ISVC, ISVC_KFSERVING)
UNIVERSE = (
    EXPERIMENTS_,
    STATUS,
    METRICS_,
    SECRETS_,
    LEASES_,
    *ROUTED,
    ("serving.knative.dev", "routes"),
    ("serving.knative.dev", "configurations"),
    ("", "configmaps"),
    ("", "pods"),
    ("", "services"),
    ("apps", "deployments"),
    ("eventing.knative.dev", "triggers"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
)
ANYWHERE, OWN, TENANTS = "every namespace", "iter8's namespace", "tenant namespaces"

# The table of docs/cluster.md: account → (api group, resource) → verbs, and where.
RBAC_TABLE: dict[str, dict[tuple[str, str], tuple[set[str], str]]] = {
    "iter8-init": {
        EXPERIMENTS_: ({"get", "list"}, ANYWHERE),
        STATUS: ({"update"}, ANYWHERE),
        METRICS_: ({"get"}, ANYWHERE),
        **{kind: ({"get", "patch"}, ANYWHERE) for kind in ROUTED},
        LEASES_: ({"create", "get", "delete"}, OWN),
    },
    "iter8-analyze": {
        EXPERIMENTS_: ({"get", "list"}, ANYWHERE),
        STATUS: ({"update"}, ANYWHERE),
        SECRETS_: ({"get"}, TENANTS),  # where an operator bound iter8-metrics-secrets
    },
    "iter8-route": {
        EXPERIMENTS_: ({"get"}, ANYWHERE),
        STATUS: ({"update"}, ANYWHERE),
        **{kind: ({"get", "patch"}, ANYWHERE) for kind in ROUTED},
        LEASES_: ({"get", "delete"}, OWN),
    },
    "iter8-promote": {
        EXPERIMENTS_: ({"get"}, ANYWHERE),
        STATUS: ({"update"}, ANYWHERE),
        **{kind: ({"get", "patch"}, ANYWHERE) for kind in ROUTED},
        LEASES_: ({"get", "delete"}, OWN),
    },
    "iter8-apiserversource": {EXPERIMENTS_: ({"get", "list", "watch"}, ANYWHERE)},
    "iter8-sink": {},
}


@dataclass
class Install:
    namespace: str  # iter8's own
    apps: str  # a user's namespace, with the experiment and the objects it routes
    admin: KubernetesStore
    kube_config: str

    def user(self, account: str) -> str:
        return f"system:serviceaccount:{self.namespace}:{account}"

    def store_as(self, account: str) -> KubernetesStore:
        """A store whose every request impersonates `account` (the admin may impersonate)."""
        cfg = client.Configuration()
        config.load_kube_config(config_file=self.kube_config, client_configuration=cfg)
        api = client.ApiClient(cfg)
        api.set_default_header("Impersonate-User", self.user(account))
        return KubernetesStore(api, owns_client=True)

    def allowed(self, account: str, verb: str, kind: tuple[str, str], namespace: str) -> bool:
        group = kind[0]
        resource, _, subresource = kind[1].partition("/")
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "metadata": {},
            "spec": {
                "user": self.user(account),
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{self.namespace}",
                    "system:authenticated",
                ],
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verb,
                    "group": group,
                    "resource": resource,
                    "subresource": subresource,
                },
            },
        }
        return bool(self.admin.create(SUBJECT_ACCESS_REVIEWS, review)["status"].get("allowed"))


def _rbac_objects(namespace: str, suffix: str) -> list[dict[str, Any]]:
    """The base's RBAC moved to `namespace`; cluster-wide names get `suffix` (this run only)."""
    objects = [o for o in relocate(build(), namespace) if o["kind"] in RBAC_KINDS]
    for obj in objects:
        if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            obj["metadata"]["name"] += suffix
        if obj["kind"] == "ClusterRoleBinding":
            obj["roleRef"]["name"] += suffix
    return objects


def tenant_binding(tenant: str, iter8_namespace: str, suffix: str = "") -> dict[str, Any]:
    """What `kubectl -n TENANT create rolebinding iter8-metrics-secrets
    --clusterrole=iter8-metrics-secrets --serviceaccount=iter8-system:iter8-analyze` creates
    (docs/cluster.md): analyze may read the Secrets of that one namespace."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "iter8-metrics-secrets", "namespace": tenant},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": f"iter8-metrics-secrets{suffix}",
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": "iter8-analyze", "namespace": iter8_namespace}
        ],
    }


@pytest.fixture(scope="module")
def install(
    kube_client: client.ApiClient, kube_config: str, knative_crds: list[str]
) -> Iterator[Install]:
    admin = KubernetesStore(kube_client)
    token = secrets.token_hex(4)
    installed = Install(f"t-iter8-{token}", f"t-apps-{token}", admin, kube_config)
    for name in (installed.namespace, installed.apps):
        admin.create(NAMESPACES, {"metadata": {"name": name}})
    objects = _rbac_objects(installed.namespace, f"-{token}")
    objects.append(tenant_binding(installed.apps, installed.namespace, f"-{token}"))
    try:
        for obj in objects:
            admin.create(resource_for(obj["apiVersion"], obj["kind"]), obj)
        _wait_until_effective(installed)
        yield installed
    finally:  # cluster-wide objects outlive the namespaces: delete them one by one
        for obj in objects:
            if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                with contextlib.suppress(StoreError):
                    kind = resource_for(obj["apiVersion"], obj["kind"])
                    admin.delete(kind, "", obj["metadata"]["name"])
        for name in (installed.namespace, installed.apps):
            with contextlib.suppress(StoreError):
                admin.delete(NAMESPACES, "", name)


def _wait_until_effective(installed: Install) -> None:
    """RBAC reaches the authorizer through a cache: wait for one grant of each binding."""
    probes = [
        ("iter8-init", "create", LEASES_, installed.namespace),
        *(
            (account, "get", EXPERIMENTS_, installed.apps)
            for account in RBAC_TABLE
            if account != "iter8-sink"
        ),
        ("iter8-analyze", "get", SECRETS_, installed.apps),
        ("iter8-route", "delete", LEASES_, installed.namespace),
        ("iter8-promote", "delete", LEASES_, installed.namespace),
    ]
    deadline = time.monotonic() + 20
    while refused := [p for p in probes if not installed.allowed(*p)]:
        assert time.monotonic() < deadline, f"still refused after 20 s: {refused}"
        time.sleep(0.1)


# --- sufficient: the real handlers, each as its own account ---------------------------------


class _Capture(BaseHTTPRequestHandler):
    events: list[CloudEvent]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.events.append(from_http(dict(self.headers), body))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def broker() -> Iterator[tuple[str, list[CloudEvent]]]:
    """A stand-in for the Broker's ingress (K_SINK) on 127.0.0.1: what the tick POSTs."""
    events: list[CloudEvent] = []
    handler = type("Capture", (_Capture,), {"events": events})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", events
    server.shutdown()
    server.server_close()
    thread.join()


def _in_namespace(experiment: dict[str, Any], namespace: str) -> dict[str, Any]:
    text = json.dumps(experiment)
    text = text.replace('"default/', f'"{namespace}/').replace('"default"', f'"{namespace}"')
    return dict(json.loads(text))


def _ping() -> CloudEvent:
    attributes = {"type": str(EventType.PING), "source": "/test/ping", "id": str(uuid.uuid4())}
    return CloudEvent(attributes, {"tick": True})


def test_each_function_runs_an_experiment_to_the_end_with_its_own_rights(
    install: Install, broker: tuple[str, list[CloudEvent]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, posted = broker
    monkeypatch.setenv("ITER8_NAMESPACE", install.namespace)  # where the functions keep Leases
    clock = Clock()
    runtimes = {
        phase: Runtime(
            store=install.store_as(f"iter8-{phase}"),
            sink=sink,
            now=clock,
            seed=7,
            timeouts=Timeouts(),
        )
        for phase in ("init", "analyze", "route", "promote")
    }
    handlers = {
        EventType.INITIALIZATION_DUE: ("init", init.handle),
        EventType.INITIALIZED: ("analyze", analyze.handle),
        EventType.ITERATION_DUE: ("analyze", analyze.handle),
        EventType.ANALYSIS_COMPLETED: ("route", route.handle),
        EventType.CONCLUDED: ("promote", promote.handle),
    }
    apps = install.apps
    experiment = _in_namespace(canary(target=f"{apps}/app"), apps)
    install.admin.create(KNATIVE_SERVICES, knative_service("app", namespace=apps))
    install.admin.create(METRICS, mock_metric("latency", {"v1": 100, "v2": 50}, namespace=apps))
    install.admin.create(EXPERIMENTS, experiment)

    reply = init.handle(add_event(experiment), runtimes["init"])
    assert reply is not None and reply["type"] == EventType.INITIALIZED
    leases, _ = install.admin.list(LEASES, install.namespace)
    assert len(leases) == 1  # init took the target's Lease in iter8's namespace

    seen: list[str] = [str(reply["type"])]
    ticked: list[str] = []
    pending = [reply]
    for _ in range(50):
        while pending:
            event = pending.pop(0)
            phase, handle = handlers[EventType(event["type"])]
            answer = handle(event, runtimes[phase])
            if answer is None:
                continue
            seen.append(str(answer["type"]))
            if EventType(answer["type"]) in handlers:
                pending.append(answer)
        status = install.admin.get(EXPERIMENTS, apps, "exp").get("status") or {}
        if status.get("stage") == "Completed":
            break
        clock.advance(1)
        posted.clear()
        assert analyze.handle(_ping(), runtimes["analyze"]) is None  # the tick: list, then POST
        # the tick sees every Experiment on the server; this test delivers its own only
        pending = [e for e in posted if e["subject"] == f"{apps}/exp"]
        ticked += [str(e["type"]) for e in pending]
    assert seen[-1] == EventType.PROMOTED, seen
    assert seen.count(EventType.WEIGHTS_APPLIED) >= 1
    assert EventType.ITERATION_DUE in ticked  # the tick, as analyze, found the next iteration
    status = install.admin.get(EXPERIMENTS, apps, "exp")["status"]
    assert status["stage"] == "Completed"
    traffic = install.admin.get(KNATIVE_SERVICES, apps, "app")["spec"]["traffic"]
    assert [t["percent"] for t in traffic] == [0, 100]
    assert install.admin.list(LEASES, install.namespace)[0] == []  # released by promote


def test_analyze_reads_a_metrics_secret_and_nothing_else_does(install: Install) -> None:
    install.admin.create(
        SECRETS,
        {"metadata": {"name": "prom", "namespace": install.apps}, "stringData": {"token": "t0k"}},
    )
    read = from_store(install.store_as("iter8-analyze"))  # how analyze reads a Metric's secret
    assert read(install.apps, "prom") == {"token": "t0k"}
    for account in ("iter8-init", "iter8-route", "iter8-promote", "iter8-apiserversource"):
        with pytest.raises(StoreError) as refused:
            from_store(install.store_as(account))(install.apps, "prom")
        assert refused.value.code == 403, account


def test_analyze_reads_no_secret_outside_the_tenant_namespaces(install: Install) -> None:
    """It could read every Secret of the cluster (a ClusterRoleBinding), kube-system's too."""
    install.admin.create(
        SECRETS,
        {"metadata": {"name": "root", "namespace": install.namespace}, "stringData": {"k": "v"}},
    )
    read = from_store(install.store_as("iter8-analyze"))
    with pytest.raises(StoreError) as refused:
        read(install.namespace, "root")  # a namespace with no tenant binding
    assert refused.value.code == 403
    for namespace in ("kube-system", ""):
        assert not install.allowed("iter8-analyze", "get", SECRETS_, namespace)


def test_a_function_short_of_rights_is_caught(install: Install) -> None:
    """The drive above would notice a missing grant: init run as the ApiServerSource's account
    (which may read Experiments, but not Metrics) stops at the server's 403."""
    apps = install.apps
    experiment = _in_namespace(canary(name="short", target=f"{apps}/short"), apps)
    install.admin.create(EXPERIMENTS, experiment)
    short = Runtime(store=install.store_as("iter8-apiserversource"))
    with pytest.raises(StoreError) as refused:
        init.handle(add_event(experiment), short)
    assert refused.value.code == 403
    assert not install.admin.get(EXPERIMENTS, apps, "short").get("status")


# --- least: the matrix, and writes outside it refused ---------------------------------------


def test_every_account_has_exactly_the_rights_of_the_table(install: Install) -> None:
    namespaces = {OWN: install.namespace, "apps": install.apps, "cluster": ""}
    cases = list(product(RBAC_TABLE, VERBS, UNIVERSE, namespaces.values()))

    def expected(account: str, verb: str, kind: tuple[str, str], namespace: str) -> bool:
        verbs, where = RBAC_TABLE[account].get(kind, (set(), ANYWHERE))
        allowed_in = {OWN: install.namespace, TENANTS: install.apps}
        return verb in verbs and (where == ANYWHERE or namespace == allowed_in[where])

    with ThreadPoolExecutor(8) as pool:
        actual = list(pool.map(lambda case: install.allowed(*case), cases))
    wrong = [
        f"{account} {verb} {kind[0] or 'core'}/{kind[1]} in {namespace or 'all namespaces'}: "
        f"{'allowed' if got else 'refused'}"
        for (account, verb, kind, namespace), got in zip(cases, actual, strict=True)
        if got != expected(account, verb, kind, namespace)
    ]
    assert wrong == []


DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")


@pytest.mark.parametrize(
    ("account", "write"),
    [
        ("iter8-route", "delete experiment"),
        ("iter8-route", "patch deployment"),
        ("iter8-route", "update experiment spec"),
        ("iter8-route", "create lease"),
        ("iter8-promote", "delete experiment"),
        ("iter8-promote", "patch deployment"),
        ("iter8-promote", "create knative service"),
        ("iter8-init", "create knative service"),
        ("iter8-init", "delete experiment"),
        ("iter8-analyze", "patch knative service"),
        ("iter8-analyze", "create lease"),
        ("iter8-apiserversource", "update experiment status"),
        ("iter8-apiserversource", "delete experiment"),
        ("iter8-sink", "update experiment status"),
    ],
)
def test_writes_outside_the_table_are_refused_by_the_server(
    install: Install, account: str, write: str
) -> None:
    apps, own = install.apps, install.namespace
    name = f"w-{secrets.token_hex(3)}"
    experiment = install.admin.create(
        EXPERIMENTS, _in_namespace(canary(name=name, target=f"{apps}/{name}"), apps)
    )
    store = install.store_as(account)
    attempts = {
        "delete experiment": lambda: store.delete(EXPERIMENTS, apps, name),
        "patch deployment": lambda: store.patch(
            DEPLOYMENTS, apps, "app", {"spec": {"replicas": 0}}, PatchType.MERGE
        ),
        "update experiment spec": lambda: store.replace(EXPERIMENTS, experiment),
        "create lease": lambda: store.create(
            LEASES, {"metadata": {"name": name, "namespace": own}, "spec": {}}
        ),
        "create knative service": lambda: store.create(
            KNATIVE_SERVICES, knative_service(name, namespace=apps)
        ),
        "patch knative service": lambda: store.patch(
            KNATIVE_SERVICES, apps, "app", {"metadata": {"labels": {"x": "y"}}}, PatchType.MERGE
        ),
        "update experiment status": lambda: store.replace_status(
            EXPERIMENTS, {**experiment, "status": {"stage": "Completed"}}
        ),
    }
    with pytest.raises(StoreError) as refused:
        attempts[write]()
    assert refused.value.code == 403, f"{account} may {write}: {refused.value}"
    assert not isinstance(refused.value, NotFound)
    install.admin.get(EXPERIMENTS, apps, name)  # still there, unchanged by the refused write
