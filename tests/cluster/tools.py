"""Shared by the cluster tests: where kubectl is, running it, and comparing object sets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from iter8.kustomize import ObjectId

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "eventing" / "config"
OVERLAYS = REPO / "eventing" / "overlays"
OVERLAY_NAMES = sorted(p.name for p in OVERLAYS.iterdir() if (p / "kustomization.yaml").is_file())
KNATIVE_CRDS = (
    "eventing-broker.yaml",
    "eventing-trigger.yaml",
    "eventing-apiserversource.yaml",
    "eventing-pingsource.yaml",
    "eventing-sinkbindings.yaml",
    "serving-service.yaml",
)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: these tests must not skip)", pytrace=False)
    pytest.skip(reason)


def debian_kubectl() -> str:
    """Debian's kubectl 1.20.2 (kustomize v2.0.3), which scripts/kube-apiserver.sh caches."""
    explicit = os.environ.get("ITER8_KUBECTL")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = Path(explicit) if explicit else cache / "iter8-kube-local" / "bin" / "kubectl"
    if not path.is_file():
        _unavailable(f"no kubectl 1.20 at {path}: run scripts/kube-apiserver.sh start")
    return str(path)


def other_kubectl() -> str | None:
    """A kubectl on PATH that is not Debian's 1.20 (e.g. 1.32 with kustomize v5), if any."""
    found = shutil.which("kubectl")
    if found is None:
        return None
    try:
        version = run([found, "version", "--client"], timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if "Kustomize Version: v5" in version else None


def run(
    argv: list[str], *, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=input, capture_output=True, text=True, timeout=timeout, check=False
    )


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize(kubectl: str, directory: Path) -> list[dict[str, Any]]:
    result = run([kubectl, "kustomize", str(directory)])
    assert result.returncode == 0, result.stderr
    return load_all(result.stdout)


def by_id(objects: Iterable[dict[str, Any]]) -> dict[ObjectId, dict[str, Any]]:
    index: dict[ObjectId, dict[str, Any]] = {}
    for obj in objects:
        key = ObjectId.of(obj)
        assert key not in index, f"{key} twice"
        index[key] = obj
    return index


def dry_run(kubectl: str, kubeconfig: str, text: str) -> subprocess.CompletedProcess[str]:
    """`kubectl apply --dry-run=server -o json -f -` of a YAML stream."""
    return run(
        [kubectl, "--kubeconfig", kubeconfig, "apply", "--dry-run=server", "-o", "json", "-f", "-"],
        input=text,
    )


def applied_items(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    data = json.loads(result.stdout)
    return list(data["items"]) if data.get("kind") == "List" else [data]


def dropped(sent: Any, stored: Any, path: str = "") -> list[str]:
    """Where `stored` lost or changed what `sent` held: a field pruned by a schema shows here."""
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [f"{path}: became {type(stored).__name__}"]
        problems: list[str] = []
        for key, value in sent.items():
            if key not in stored:
                problems.append(f"{path}.{key}: dropped")
            else:
                problems += dropped(value, stored[key], f"{path}.{key}")
        return problems
    if isinstance(sent, list):
        if not isinstance(stored, list) or len(stored) != len(sent):
            return [f"{path}: list changed"]
        return [p for i, item in enumerate(sent) for p in dropped(item, stored[i], f"{path}[{i}]")]
    return [] if sent == stored else [f"{path}: {sent!r} became {stored!r}"]
