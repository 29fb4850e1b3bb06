"""`iter8 report`: an experiment over its iterations as one self-contained HTML page — the split,
every metric with its interval against its limits, the evidence, the decision and why, the
timeline — read from the experiment's status alone (`model`), drawn (`plots`), laid out (`page`).
"""

from __future__ import annotations

from iter8.api.experiment import Experiment
from iter8.report.model import build
from iter8.report.page import render
from iter8.report.plots import MissingPlotting, draw

__all__ = ["MissingPlotting", "html"]


def html(experiment: Experiment, generated: str, refresh: int | None = None) -> str:
    """The page for `experiment`; `generated` is the time it says it was made, `refresh` how
    often a browser reloads it (live). Raises MissingPlotting without matplotlib."""
    report = build(experiment)
    return render(report, draw(report), generated, refresh)
