"""`status.analysis.history`: one record per iteration written by the analyze step (through the
real handlers, in-process, on mock metrics), and bounded in count and in bytes."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from iter8.api.experiment import Analysis, VersionWeight
from iter8.lifecycle import history
from tests.report.runs import run_canary


def finished(tmp_path: Path, algorithm: str, iterations: int = 6) -> dict[str, Any]:
    analysis = run_canary(tmp_path / "store.db", algorithm, iterations).status.analysis
    assert analysis is not None and analysis.history is not None
    return analysis.history


def test_the_bayesian_analysis_records_every_iteration(tmp_path: Path) -> None:
    kept = finished(tmp_path, "bayesian")
    records = kept["iterations"]
    assert [r["iteration"] for r in records] == list(range(1, len(records) + 1))
    assert kept["dropped"] == 0 and kept["alpha"] == 0.05
    assert records[0]["split"] == {"v1": 100, "v2": 0}  # in force while iteration 1 ran
    for before, after in itertools.pairwise(records):
        assert after["split"] == before["weights"]  # route applied what analyze chose
    for r in records:
        value, low, high = r["metrics"]["default/latency"]["v2"]
        assert value is not None
        if r["iteration"] > 1:  # a value without a sample size has an interval from two on
            assert low is not None and high is not None and low <= high
        assert set(r["pBest"]) == {"v1", "v2"}
        holds, fails = r["eValues"]["v2"]["default/latency ≤ 200"]
        assert isinstance(holds, float) and isinstance(fails, float)
    assert records[-1]["action"] in ("promote", "no-winner")  # the decision that ended it
    assert all(r["action"] == "continue" for r in records[:-1])


def test_the_iter8_v2_analysis_records_point_values_and_verdicts(tmp_path: Path) -> None:
    records = finished(tmp_path, "iter8-v2", iterations=3)["iterations"]
    assert [r["iteration"] for r in records] == [1, 2, 3]
    for r in records:
        value, low, high = r["metrics"]["default/latency"]["v2"]
        assert value is not None and low is None and high is None  # no interval from v2
        assert r["objectivesMet"] == {"v1": [True], "v2": [True]}
        assert "eValues" not in r and "pBest" not in r


def analysis(versions: int, metrics: int, iteration: int) -> dict[str, Any]:
    """An analysis' wire form as `assessment.status_analysis` writes it, of any size."""
    names = [f"version-{i}" for i in range(versions)]
    keys = [f"default/metric-{i}" for i in range(metrics)]
    return {
        "aggregatedMetrics": {
            "data": {k: {"data": {v: {"value": "0.123456789"} for v in names}} for k in keys}
        },
        "weights": {"data": [{"name": v, "value": 100 // versions} for v in names]},
        "decision": {"action": "continue"},
        "details": {
            "alpha": 0.05,
            "posteriors": {
                k: {v: {"value": 0.1234, "ci95": [0.1, 0.2], "evidence": "n 10"} for v in names}
                for k in keys
            },
            "objectives": {
                v: [
                    {"objective": f"{k} ≤ 1", "logEHolds": 1.23456, "logEFails": "-inf"}
                    for k in keys
                ]
                for v in names
            },
            "pBest": dict.fromkeys(names, 1 / versions),
        },
    }


def run(iterations: int, versions: int = 2, metrics: int = 2) -> dict[str, Any]:
    previous: Analysis | None = None
    for i in range(1, iterations + 1):
        wire = analysis(versions, metrics, i)
        split = [VersionWeight(name=f"version-{v}", value=0) for v in range(versions)]
        kept = history.extended(previous, wire, split, i, f"t{i}")
        previous = Analysis.from_wire({**wire, "iteration": i, "history": kept})
    assert previous is not None and previous.history is not None
    return previous.history


def test_only_the_last_iterations_are_kept_and_the_rest_counted() -> None:
    kept = run(history.LIMIT + 50)
    assert [r["iteration"] for r in kept["iterations"]] == list(range(51, history.LIMIT + 51))
    assert kept["dropped"] == 50


@pytest.mark.parametrize(("versions", "metrics"), [(10, 10), (20, 30)])
def test_many_versions_and_metrics_stay_within_the_byte_budget(versions: int, metrics: int) -> None:
    kept = run(60, versions, metrics)
    size = len(json.dumps(kept["iterations"], separators=(",", ":")))
    assert size <= history.BUDGET
    assert kept["dropped"] > 0 and kept["iterations"][-1]["iteration"] == 60
    assert kept["dropped"] + len(kept["iterations"]) == 60


def test_numbers_are_rounded_and_infinities_spelled_out() -> None:
    (record,) = run(1)["iterations"]
    assert record["metrics"]["default/metric-0"]["version-0"] == [0.1235, 0.1, 0.2]
    assert record["eValues"]["version-0"]["default/metric-0 ≤ 1"] == [1.235, "-inf"]


def test_a_redone_iteration_replaces_its_record() -> None:
    first = history.extended(None, analysis(2, 1, 1), None, 1, "first")
    second = history.extended(
        Analysis.from_wire({"history": first}), analysis(2, 1, 2), None, 2, "second"
    )
    again = history.extended(
        Analysis.from_wire({"history": second}), analysis(2, 1, 2), None, 2, "again"
    )
    assert [(r["iteration"], r["time"]) for r in again["iterations"]] == [
        (1, "first"),
        (2, "again"),
    ]
