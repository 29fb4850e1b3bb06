"""Every experiment in `examples/` runs as shipped (`iter8 run FILE`, a real subprocess with its
embedded stack) and ends as its comment says; a metrics backend that fails shows its own message
in the progress lines and in `describe`, not only in `--output json`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ITER8 = Path(sys.executable).parent / "iter8"
OUTCOMES = {  # file → (decision, the version kept)
    "canary.yaml": ("promote", "checkout-v2"),
    "canary-rollback.yaml": ("rollback", "checkout-v1"),
    "ab.yaml": ("promote", "shop-v2"),
    "abn.yaml": ("promote", "pricing-v3"),
    "conformance.yaml": ("promote", "inventory-v1"),
    "fixedsplit.yaml": ("promote", "search-v2"),
    "bluegreen.yaml": ("promote", "payments-v2"),
}
STEADY_SPLITS = {  # file → the split in force at every iteration, until the one switch at the end
    "fixedsplit.yaml": {"search-v1": 70, "search-v2": 30},  # FixedSplit: the user's, untouched
    "bluegreen.yaml": {"payments-v1": 100, "payments-v2": 0},  # BlueGreen: no intermediate split
}


def run(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(ITER8), "run", str(path), "--output", "json", "--seed", "3", "--timeout", "90"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=150, check=False
    )


def test_every_example_is_listed_here() -> None:
    assert sorted(p.name for p in (REPO / "examples").glob("*.yaml")) == sorted(OUTCOMES)


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_the_example_runs_to_its_outcome(name: str) -> None:
    done = run(REPO / "examples" / name)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)["status"]
    action, kept = OUTCOMES[name]
    assert status["analysis"]["decision"]["action"] == action, status["message"]
    assert status["versionRecommendedForPromotion"] == kept
    assert {w["name"]: w["value"] for w in status["currentWeightDistribution"]}[kept] == 100
    iterations = [line for line in done.stderr.splitlines() if ": iteration " in line]
    assert len(iterations) == len(set(iterations)), "an iteration line printed twice"
    if name in STEADY_SPLITS:
        splits = [record.get("split") for record in status["analysis"]["history"]["iterations"]]
        assert splits and all(split == STEADY_SPLITS[name] for split in splits), splits


def test_a_failing_backend_shows_its_message(tmp_path: Path) -> None:
    """The example with its metrics on a Prometheus that is not there (a port nobody listens
    on): the progress line and describe say what the backend said."""
    with socket.socket() as probe:  # a free port, closed again: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    documents = list(yaml.safe_load_all((REPO / "examples" / "canary.yaml").read_text()))
    for document in documents:
        if document["kind"] == "Metric":
            spec = document["spec"]
            spec.pop("mock")
            spec.update(
                provider="prometheus",
                urlTemplate=f"http://127.0.0.1:{port}/api/v1/query",
                params=[{"name": "query", "value": "up"}],
                jqExpression=".data.result[0].value[1] | tonumber",
            )
        if document["kind"] == "Experiment":
            document["spec"]["duration"]["iterationsPerLoop"] = 2
    path = tmp_path / "unreachable.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    store = tmp_path / "store.db"
    done = run(path, "--store", str(store))
    lines = [line for line in done.stderr.splitlines() if ": iteration " in line]
    assert lines and all(
        "queries failed: default/checkout-requests for checkout-v1:" in x for x in lines
    )
    assert "refused" in lines[0].lower() or "connect" in lines[0].lower(), lines[0]
    described = subprocess.run(
        [str(ITER8), "describe", "checkout-canary", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    section = described.stdout.split("****** Metric queries ******")[1]
    assert "default/checkout-mean-latency for checkout-v2: " in section
