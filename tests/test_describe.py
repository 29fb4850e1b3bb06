"""`describe` as a user reads it: tables drawn by rich, quantities as plain numbers, a reward
section, the operator's control and its conditions, and a legend for the evidence figures."""

from __future__ import annotations

from typing import Any

from iter8.api.experiment import Experiment
from iter8.describe import describe


def ab(
    status: dict[str, Any] | None = None, annotations: dict[str, str] | None = None
) -> Experiment:
    return Experiment.from_wire(
        {
            "apiVersion": "iter8.tools/v2alpha2",
            "kind": "Experiment",
            "metadata": {"name": "shop", "namespace": "ns", "annotations": annotations or {}},
            "spec": {
                "target": "ns/shop",
                "strategy": {"testingPattern": "A/B"},
                "criteria": {
                    "rewards": [{"metric": "ns/revenue", "preferredDirection": "High"}],
                    "objectives": [{"metric": "ns/latency", "upperLimit": "250m"}],
                },
                "versionInfo": {"baseline": {"name": "v1"}, "candidates": [{"name": "v2"}]},
            },
            **({"status": status} if status else {}),
        }
    )


def analysed() -> dict[str, Any]:
    def values(v1: str, v2: str) -> dict[str, Any]:
        return {"data": {"v1": {"value": v1}, "v2": {"value": v2}}}

    return {
        "stage": "Running",
        "completedIterations": 3,
        "analysis": {
            "aggregatedMetrics": {
                "data": {
                    "ns/revenue": values("1022564102565n", "2100"),
                    "ns/latency": values("0.2", "120m"),
                }
            },
            "details": {"pBest": {"v1": 0.1, "v2": 0.9}},
            "decision": {"action": "continue", "reason": "not yet"},
        },
    }


def test_quantities_print_as_numbers() -> None:
    text = describe(ab(analysed()))
    assert "1022.564" in text and "1022564102565n" not in text
    assert "0.120" in text and "120m" not in text
    assert "ns/latency ≤ 0.25" in text  # the limit `250m`


def test_the_reward_section_names_the_better_direction_and_the_best() -> None:
    text = describe(ab(analysed()))
    section = text.split("****** Reward Assessment ******")[1].split("******")[0]
    row = next(line for line in section.splitlines() if line.startswith("ns/revenue"))
    assert row.split() == ["ns/revenue", "High", "1022.564", "2100.000", "v2"]


def test_tables_are_drawn_by_rich_not_by_hand() -> None:
    text = describe(ab(analysed()))
    assert "+--" not in text and "| " not in text
    assert "─" in text  # rich's rule under the header


def test_the_legend_explains_p_best_and_e_value() -> None:
    text = describe(ab(analysed()))
    legend = text.split("****** Legend ******")[1]
    assert "P(best)" in legend and "e-value" in legend and "1/alpha" in legend
    assert "Legend" not in describe(ab())  # nothing to explain before an analysis


def test_the_control_state_shows_with_its_condition() -> None:
    status = analysed()
    status["conditions"] = [
        {"type": "Paused", "status": "True", "reason": "Paused", "message": "Paused by an operator"}
    ]
    notes = {"iter8.tools/paused": "true", "iter8.tools/approval": "required"}
    text = describe(ab(status, notes))
    assert "Control: paused by an operator (iter8 resume ns/shop goes on)" in text
    assert "Approval before promotion: required; no timeout; not yet approved" in text
    row = next(line for line in text.splitlines() if line.startswith("Paused"))
    assert row.split()[:3] == ["Paused", "True", "Paused"]
