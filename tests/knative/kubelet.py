"""A stand-in kubelet and endpoints controller for Knative Eventing's data plane, run by
`scripts/knative-eventing.sh` inside its network namespace (no kubelet runs here).

Every Deployment (any namespace, replicas > 0) whose container image is one of Knative's own
data-plane images becomes a local process of the matching binary, with the env of its pod
template (values and the pod's name and namespace) and a kubeconfig holding a token of the pod's
ServiceAccount (TokenRequest), so each component runs with the rights Knative's RBAC gives it.
That covers the broker ingress and filter, the in-memory channel's dispatcher, and the adapters
the controllers create and scale: PingSource's `pingsource-mt-adapter` and one Deployment per
ApiServerSource. A process that exits is started again with backoff, like a pod's container.
Their status (Available) and the Endpoints of `broker-ingress`, `broker-filter` and
`imc-dispatcher` are written as a kubelet and the endpoints controller would. Components that
fix their HTTP port get another one (`--port`): they share one network namespace, not a pod each.

The namespace's hosts file is kept as `hosts.d/*.hosts` of the state dir plus one line per
InMemoryChannel (its address → the dispatcher), as cluster DNS would answer.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml
from kubernetes import client, config

log = logging.getLogger("knative-kubelet")
KO = "ko://knative.dev/eventing/cmd/"
BINARIES = {  # image → binary; the key also names the component in --port
    f"{KO}broker/ingress": "ingress",
    f"{KO}broker/filter": "filter",
    f"{KO}in_memory/channel_dispatcher": "channel_dispatcher",
    f"{KO}mtping": "mtping",
    f"{KO}apiserver_receive_adapter": "apiserver_receive_adapter",
}
# They share one network namespace with the dispatcher, and each serves health on :8080 too.
ADAPTERS = frozenset({"mtping", "apiserver_receive_adapter"})
PORT_VARIABLES = {"ingress": "INGRESS_PORT", "filter": "FILTER_PORT"}
HTTPS_OFFSET = 400  # their https listener moves with them (8081 → 8481)
DISPATCHER_PORT = 8080  # fixed in the dispatcher's code
SYSTEM = "knative-eventing"
ENDPOINTS = {"ingress": "broker-ingress", "filter": "broker-filter"}
ENDPOINTS_DISPATCHER = "imc-dispatcher"
POLL_SECONDS = 0.5
MAX_BACKOFF = 10.0
ROLLOUT_OVERLAP = 5.0  # seconds the old pod of a Deployment runs beside its replacement
PR_SET_PDEATHSIG = 1


@dataclass
class Pod:
    namespace: str
    deployment: str
    binary: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    reported: bool = False
    spec_key: str = ""
    generation: int = 1

    @property
    def name(self) -> str:
        return f"{self.deployment}-{self.generation}"


@dataclass
class Kubelet:
    api: client.ApiClient
    state: Path
    bin: Path
    pod_ip: str
    hosts: Path
    dispatcher_ip: str
    ports: dict[str, int]
    pods: dict[tuple[str, str], Pod] = field(default_factory=dict)
    retiring: list[tuple[float, Pod]] = field(default_factory=list)  # (when to stop, pod)

    def __post_init__(self) -> None:
        self.apps = client.AppsV1Api(self.api)
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        (self.state / "pods").mkdir(mode=0o700, exist_ok=True)

    # --- pods ---------------------------------------------------------------------------------

    def sync(self) -> None:
        wanted: dict[tuple[str, str], Any] = {}
        for deployment in self.apps.list_deployment_for_all_namespaces().items:
            containers = deployment.spec.template.spec.containers
            binary = BINARIES.get(containers[0].image) if containers else None
            if binary and (deployment.spec.replicas is None or deployment.spec.replicas > 0):
                wanted[(deployment.metadata.namespace, deployment.metadata.name)] = deployment
            elif binary and deployment.status.replicas:
                self._write_status(deployment, running=False)
        for key in set(self.pods) - set(wanted):
            self._stop(self.pods.pop(key))
        for key, deployment in wanted.items():
            self._run(key, deployment)
        now = time.monotonic()
        for item in [r for r in self.retiring if r[0] <= now]:
            self.retiring.remove(item)
            self._stop(item[1])
        self._endpoints()
        self._hosts()

    def _run(self, key: tuple[str, str], deployment: Any) -> None:
        container = deployment.spec.template.spec.containers[0]
        spec_key = repr(container.env) + repr(deployment.spec.template.spec.service_account_name)
        pod = self.pods.get(key)
        generation = 1
        if pod is not None and pod.spec_key != spec_key:
            # a new template: a new pod, and the old one ends once the new one has run a while
            # (a Deployment's default RollingUpdate, never a gap without one)
            self.retiring.append((time.monotonic() + ROLLOUT_OVERLAP, self.pods.pop(key)))
            generation, pod = pod.generation + 1, None
        if pod is None:
            pod = Pod(key[0], key[1], BINARIES[container.image], {}, spec_key=spec_key)
            pod.generation = generation
            pod.env = self._env(pod, deployment)
            self.pods[key] = pod
        if pod.process is not None and pod.process.poll() is not None:
            log.warning("%s/%s exited with %s", pod.namespace, pod.name, pod.process.returncode)
            pod.process, pod.reported = None, False
            pod.restarts += 1
            pod.next_start = time.monotonic() + min(MAX_BACKOFF, 0.5 * 2**pod.restarts)
        ready_to_start = pod.binary not in ADAPTERS or self._dispatcher_listening()
        if pod.process is None and time.monotonic() >= pod.next_start and ready_to_start:
            pod.process = self._start(pod)
        if pod.process is not None and not pod.reported:
            self._write_status(deployment, running=True)
            pod.reported = True

    def _dispatcher_listening(self) -> bool:
        """Whether the dispatcher holds its port 8080, which the adapters also try to take
        (for a health server whose failure they ignore): they start only after it."""
        pids = {
            p.process.pid
            for p in self.pods.values()
            if p.binary == "channel_dispatcher" and p.process and p.process.poll() is None
        }
        if not pids:
            return False
        listening = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{DISPATCHER_PORT}"], capture_output=True, text=True
        ).stdout
        return any(f"pid={pid}," in listening for pid in pids)

    def _env(self, pod: Pod, deployment: Any) -> dict[str, str]:
        fields = {"metadata.namespace": pod.namespace, "metadata.name": pod.name}
        env: dict[str, str] = {}
        for item in deployment.spec.template.spec.containers[0].env or []:
            if item.value_from is not None and item.value_from.field_ref is not None:
                env[item.name] = fields.get(item.value_from.field_ref.field_path, "")
            else:
                env[item.name] = item.value or ""
        if pod.binary in PORT_VARIABLES:
            port = self.ports[pod.binary]
            env[PORT_VARIABLES[pod.binary]] = str(port)
            env[f"{PORT_VARIABLES[pod.binary]}_HTTPS"] = str(port + HTTPS_OFFSET)
        env["KUBERNETES_MIN_VERSION"] = "v1.20.0"  # Knative's own override of its version check
        account = deployment.spec.template.spec.service_account_name or "default"
        env["KUBECONFIG"] = str(self._kubeconfig(pod, account))
        return env

    def _kubeconfig(self, pod: Pod, account: str) -> Path:
        """The admin kubeconfig with the token of the pod's ServiceAccount instead."""
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=86400)
        )
        token = self.core.create_namespaced_service_account_token(
            account, pod.namespace, request
        ).status.token
        doc = yaml.safe_load(Path(os.environ["KUBECONFIG"]).read_text())
        for user in doc["users"]:
            user["user"] = {"token": token}
        path = self.state / "pods" / f"{pod.namespace}.{pod.name}.kubeconfig"
        descriptor = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as f:
            yaml.safe_dump(doc, f)
        return path

    def _start(self, pod: Pod) -> subprocess.Popen[bytes]:
        base = self.state / "pods" / f"{pod.namespace}.{pod.name}"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **pod.env,
            "KNATIVE_LOCAL_MARK": str(base),
        }
        output = Path(f"{base}.log").open("ab")  # noqa: SIM115 - the child keeps it
        try:
            process = subprocess.Popen(
                [str(self.bin / pod.binary)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        finally:
            output.close()
        Path(f"{base}.pid").write_text(str(process.pid))
        log.info("started %s/%s (%s, pid %d)", pod.namespace, pod.name, pod.binary, process.pid)
        return process

    def _stop(self, pod: Pod) -> None:
        if pod.process is not None and pod.process.poll() is None:
            pod.process.terminate()
            try:
                pod.process.wait(5)
            except subprocess.TimeoutExpired:
                pod.process.kill()
                pod.process.wait()
        with contextlib.suppress(FileNotFoundError):
            (self.state / "pods" / f"{pod.namespace}.{pod.name}.pid").unlink()
        log.info("stopped %s/%s", pod.namespace, pod.name)

    def stop_all(self) -> None:
        for pod in [*self.pods.values(), *(p for _, p in self.retiring)]:
            self._stop(pod)
        self.pods.clear()
        self.retiring.clear()

    def _write_status(self, deployment: Any, running: bool) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        count = 1 if running else 0
        status = {
            "observedGeneration": deployment.metadata.generation,
            "replicas": count,
            "updatedReplicas": count,
            "readyReplicas": count,
            "availableReplicas": count,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if running else "False",
                    "reason": "MinimumReplicasAvailable" if running else "ScaledDown",
                    "lastTransitionTime": now,
                    "lastUpdateTime": now,
                }
            ],
        }
        self.apps.patch_namespaced_deployment_status(
            deployment.metadata.name, deployment.metadata.namespace, {"status": status}
        )

    # --- endpoints and names ------------------------------------------------------------------

    def _endpoints(self) -> None:
        running = {p.binary for p in self.pods.values() if p.process and p.process.poll() is None}
        wanted = {name: self.ports[binary] for binary, name in ENDPOINTS.items()}
        wanted[ENDPOINTS_DISPATCHER] = DISPATCHER_PORT
        binaries = {
            **{v: k for k, v in ENDPOINTS.items()},
            ENDPOINTS_DISPATCHER: "channel_dispatcher",
        }
        for name, port in wanted.items():
            ready = binaries[name] in running
            subsets = (
                [{"addresses": [{"ip": self.pod_ip}], "ports": [{"name": "http", "port": port}]}]
                if ready
                else []
            )
            body = {"metadata": {"name": name, "namespace": SYSTEM}, "subsets": subsets}
            try:
                current = self.core.read_namespaced_endpoints(name, SYSTEM)
            except client.ApiException as e:
                if e.status != 404:
                    raise
                self.core.create_namespaced_endpoints(SYSTEM, body)
                continue
            if bool(current.subsets) != ready:
                self.core.replace_namespaced_endpoints(name, SYSTEM, body)

    def _hosts(self) -> None:
        lines = [path.read_text() for path in sorted((self.state / "hosts.d").glob("*.hosts"))]
        channels = self.custom.list_cluster_custom_object(
            "messaging.knative.dev", "v1", "inmemorychannels"
        )
        for channel in channels.get("items", []):
            url = ((channel.get("status") or {}).get("address") or {}).get("url")
            if url and urlparse(url).hostname:
                lines.append(f"{self.dispatcher_ip} {urlparse(url).hostname}\n")
        text = "".join(lines)
        if not self.hosts.exists() or self.hosts.read_text() != text:
            with self.hosts.open("r+" if self.hosts.exists() else "w") as f:  # in place
                f.write(text)
                f.truncate()


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--bin", type=Path, required=True)
    parser.add_argument("--pod-ip", required=True)
    parser.add_argument("--hosts", type=Path, required=True)
    parser.add_argument("--dispatcher-ip", required=True)
    parser.add_argument("--port", action="append", default=[], help="IMAGE_TAIL=PORT")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    ports = {}
    for item in args.port:
        tail, port = item.split("=")
        ports[BINARIES[KO + tail]] = int(port)
    cfg = client.Configuration()
    config.load_kube_config(client_configuration=cfg)
    kubelet = Kubelet(
        client.ApiClient(cfg), args.state, args.bin, args.pod_ip, args.hosts,
        args.dispatcher_ip, ports,
    )  # fmt: skip
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            try:
                kubelet.sync()
            except Exception:  # the API server may be briefly away: try again
                log.exception("sync failed")
            time.sleep(POLL_SECONDS)
    finally:
        kubelet.stop_all()


if __name__ == "__main__":
    main()
