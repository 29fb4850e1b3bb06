"""iter8 on Knative Eventing's own code (scripts/knative-eventing.sh): eventing/config applied
through the test overlay, and the four functions and the two sinks as local processes in the
script's network namespace, standing in for their Knative Services.

The only stand-in for Knative Serving is each Service's `status.address.url` (a cluster-local
name that the namespace's hosts file maps to the process's own 127.0.2.x address, port 80),
written here so that Knative's addressable resolution finds the processes. Each function runs
with a token of its own ServiceAccount (eventing/config/rbac), and `K_SINK` is the address
Knative wrote in the Broker's status.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "knative-eventing.sh"
OVERLAY = REPO / "eventing" / "overlays" / "knative-local"
KUBECTL = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "iter8-kube-local/bin/kubectl"
)
NAMESPACE = "iter8-system"
BROKER = "iter8"
SINK_SOURCE = REPO / "eventing" / "sinks" / "main.py"
ITER8 = Path(sys.executable).parent / "iter8"
FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"
Object = dict[str, Any]


@dataclass(frozen=True)
class Knative:
    """Where the script's processes are: its state dir, network namespace and broker ingress."""

    state: Path
    netns: str
    ingress: str  # the broker ingress from the host: http://<pod ip>:<port>

    @classmethod
    def from_script(cls) -> Knative | None:
        """The running setup, or None when `knative-eventing.sh status` says it is not."""
        env = {**os.environ}
        if subprocess.run(["bash", str(SCRIPT), "status"], env=env, capture_output=True).returncode:
            return None
        out = subprocess.run(["bash", str(SCRIPT), "env"], capture_output=True, text=True)
        values = dict(
            line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines()
        )
        return cls(
            Path(values["KNATIVE_LOCAL_DIR"]),
            values["KNATIVE_LOCAL_NETNS"],
            values["KNATIVE_LOCAL_INGRESS"],
        )


@dataclass(frozen=True)
class Unit:
    """One Knative Service of eventing/config and the process standing in for it."""

    service: str  # iter8-init, …, iter8-notifier, iter8-deadletter
    address: str  # its 127.0.2.x in the network namespace
    account: str | None  # its ServiceAccount (None: no token, as automountServiceAccountToken)

    @property
    def host(self) -> str:
        return f"{self.service}.{NAMESPACE}.svc.cluster.local"

    @property
    def phase(self) -> str | None:
        name = self.service.removeprefix("iter8-")
        return name if name in ("init", "analyze", "route", "promote") else None


UNITS = (
    Unit("iter8-init", "127.0.2.1", "iter8-init"),
    Unit("iter8-analyze", "127.0.2.2", "iter8-analyze"),
    Unit("iter8-route", "127.0.2.3", "iter8-route"),
    Unit("iter8-promote", "127.0.2.4", "iter8-promote"),
    Unit("iter8-notifier", "127.0.2.5", None),
    Unit("iter8-deadletter", "127.0.2.6", None),
)


@dataclass
class Iter8OnKnative:
    knative: Knative
    api: client.ApiClient
    kubeconfig: str  # the admin kubeconfig on the host (for kubectl)
    logs: Path
    sink: str = ""  # K_SINK: the Broker's address from its status
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # --- setup ----------------------------------------------------------------------------------

    def apply_config(self) -> None:
        """eventing/config through the test overlay, as a cluster user would (`kubectl apply -k`)."""
        kubectl(self.kubeconfig, "apply", "-k", str(OVERLAY))

    def publish_addresses(self) -> None:
        """Each Service's status.address → its process, and the names in the hosts file."""
        lines = "".join(f"{u.address} {u.host}\n" for u in UNITS)
        (self.knative.state / "hosts.d" / "50-iter8.hosts").write_text(lines)
        custom = client.CustomObjectsApi(self.api)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for unit in UNITS:
            url = f"http://{unit.host}"
            status = {
                "url": url,
                "address": {"url": url},
                "observedGeneration": 1,
                "conditions": [
                    {"type": t, "status": "True", "lastTransitionTime": now}
                    for t in ("ConfigurationsReady", "Ready", "RoutesReady")
                ],
            }
            custom.patch_namespaced_custom_object_status(
                "serving.knative.dev", "v1", NAMESPACE, "services", unit.service,
                {"status": status},
            )  # fmt: skip

    def wait_for_broker(self, timeout: float = 90) -> str:
        """The Broker's address once Knative has written it (K_SINK)."""
        broker = wait_for(
            lambda: self._get("eventing.knative.dev", "brokers", BROKER),
            lambda b: bool(_path(b, "status", "address", "url")) and _ready(b),
            timeout,
            "Broker iter8 ready with an address",
        )
        self.sink = broker["status"]["address"]["url"]
        return self.sink

    def wait_for_triggers(self, timeout: float = 90) -> None:
        for name in ("iter8-init", "iter8-analyze", "iter8-route", "iter8-promote",
                     "iter8-notifications"):  # fmt: skip
            wait_for(
                lambda n=name: self._get("eventing.knative.dev", "triggers", n),
                _ready,
                timeout,
                f"Trigger {name} Ready",
            )

    def wait_for_sources(self, timeout: float = 120) -> None:
        for plural, name in (
            ("apiserversources", "iter8-experiments"),
            ("pingsources", "iter8-tick"),
        ):
            wait_for(
                lambda p=plural, n=name: self._get("sources.knative.dev", p, n),
                _ready,
                timeout,
                f"{plural} {name} Ready",
            )

    def _get(self, group: str, plural: str, name: str) -> Object:
        return client.CustomObjectsApi(self.api).get_namespaced_custom_object(
            group, "v1", NAMESPACE, plural, name
        )

    # --- processes ------------------------------------------------------------------------------

    def start_all(self) -> None:
        for unit in UNITS:
            self.start(unit)

    def start(self, unit: Unit) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONUNBUFFERED": "1",
            "HOST": unit.address,
            "PORT": "80",
        }
        if unit.phase is not None:
            env |= {
                "ITER8_STORE": "kubernetes",
                "KUBECONFIG": str(self._token_kubeconfig(unit)),
                "ITER8_NAMESPACE": NAMESPACE,
                "K_SINK": self.sink,
            }
            argv = [str(ITER8), "serve", unit.phase]
        else:
            # as sinks.yaml deploys them (the console: the log), with plain-text log lines
            env |= {"ITER8_NOTIFIER": "console", "ITER8_LOG_FORMAT": "text"}
            argv = [
                str(FUNCTIONS_FRAMEWORK), "--source", str(SINK_SOURCE), "--target", "notify",
                "--host", unit.address, "--port", "80",
            ]  # fmt: skip
        log = (self.logs / f"{unit.service}.log").open("ab")
        with log:
            self.processes[unit.service] = subprocess.Popen(
                ["ip", "netns", "exec", self.knative.netns, *argv],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
            )

    def kill(self, unit: Unit) -> None:
        """The unit's process group, at once (SIGKILL): a pod that dies."""
        process = self.processes.pop(unit.service)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def wait_serving(self, timeout: float = 60) -> None:
        for unit in UNITS:
            wait_for(
                lambda u=unit: self.netns_get(f"http://{u.host}/healthz"),
                lambda code: code > 0,  # any answer: the sinks take only POST
                timeout,
                f"{unit.service} serving",
            )

    def netns_get(self, url: str) -> int:
        done = subprocess.run(
            ["ip", "netns", "exec", self.knative.netns, "curl", "-s", "-m", "2", "-o",
             "/dev/null", "-w", "%{http_code}", url],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return int(done.stdout or 0)

    def stop_all(self) -> None:
        for service in list(self.processes):
            process = self.processes.pop(service)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def _token_kubeconfig(self, unit: Unit) -> Path:
        """The script's in-namespace kubeconfig with a token of the unit's ServiceAccount."""
        assert unit.account is not None
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=86400)
        )
        token = (
            client.CoreV1Api(self.api)
            .create_namespaced_service_account_token(unit.account, NAMESPACE, request)
            .status.token
        )
        doc = yaml.safe_load((self.knative.state / "kubeconfig").read_text())
        for user in doc["users"]:
            user["user"] = {"token": token}
        path = self.logs / f"{unit.service}.kubeconfig"
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(doc))
        return path

    # --- what happened ---------------------------------------------------------------------------

    def log_of(self, service: str) -> str:
        return (self.logs / f"{service}.log").read_text(errors="replace")


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    binary = str(KUBECTL) if KUBECTL.is_file() else shutil.which("kubectl") or "kubectl"
    done = subprocess.run(
        [binary, "--kubeconfig", kubeconfig, *args],
        input=stdin, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done.stdout


def wait_for(get: Callable[[], Any], ok: Callable[[Any], bool], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = get()
        except client.ApiException as e:
            last = e
        else:
            if ok(last):
                return last
        time.sleep(0.5)
    raise TimeoutError(f"{what}: not after {timeout:g} s; last: {_short(last)}")


def _ready(obj: Object) -> bool:
    conditions = _path(obj, "status", "conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _path(obj: Any, *keys: str) -> Any:
    for key in keys:
        obj = (obj or {}).get(key) if isinstance(obj, dict) else None
    return obj


def _short(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("status", obj))[:2000]
    return str(obj)[:2000]
