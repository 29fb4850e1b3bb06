"""The report's plots, drawn by matplotlib as inline SVG: no script, no font or file fetched, so
the page opens offline and from any viewer. matplotlib is the `report` extra; without it the
report says how to install it (`MissingPlotting`)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iter8.report.model import MetricView, Report, Series

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INSTALL = "pip install 'iter8-serverless[report]'"
WIDTH = 9.0  # inches; the page scales the SVG to its column
STYLE = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, searchable
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
LIMIT_COLOUR, PROOF_COLOUR = "#c0392b", "#2e7d32"


class MissingPlotting(RuntimeError):
    def __init__(self) -> None:
        super().__init__(f"iter8 report draws its plots with matplotlib: {INSTALL}")


@dataclass(frozen=True)
class Plot:
    key: str  # the element id in the page
    title: str
    caption: str
    svg: str


def draw(report: Report) -> list[Plot]:
    try:
        import matplotlib
    except ImportError as error:
        raise MissingPlotting() from error
    with matplotlib.rc_context(STYLE):
        if not report.iterations:
            return []
        plots = [_split(report), *(_metric(report, view) for view in report.metrics)]
        evidence = _evidence(report)
        if evidence is not None:
            plots.append(evidence)
    return plots


def _figure(rows: int = 1, height: float = 2.8) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, height * rows), layout="constrained")
    return figure, figure.subplots(rows, 1, squeeze=False)[:, 0]


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # the element alone: no XML prolog inside HTML


def _colours(versions: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return {v: palette(i % 10) for i, v in enumerate(versions)}


def _nan(series: Series) -> list[float]:
    return [math.nan if x is None else x for x in series]


def _iterations_axis(axes: Axes, report: Report, extra: Sequence[str] = ()) -> None:
    axes.set_xlabel("iteration")
    ticks = list(report.iterations)
    step = max(1, math.ceil(len(ticks) / 20))
    shown = ticks[::step]
    labels = [str(t) for t in shown]
    if extra:
        last = (ticks[-1] if ticks else 0) + 1
        shown, labels = [*shown, last], [*labels, *extra]
    axes.set_xticks(shown, labels)


def _split(report: Report) -> Plot:
    figure, (axes,) = _figure()
    colours = _colours(report.versions)
    x = list(report.iterations)
    final = report.final_split if report.stage == "Completed" and report.final_split else {}
    if final:
        x.append(x[-1] + 1)
    bottom = [0.0] * len(x)
    for version in report.versions:
        heights = [0.0 if h is None else h for h in report.split.get(version, [])]
        if final:
            heights.append(float(final.get(version, 0)))
        axes.bar(x, heights, 0.85, bottom=bottom, label=version, color=colours[version])
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    axes.set_ylim(0, 100)
    axes.set_ylabel("traffic %")
    _iterations_axis(axes, report, ["end"] if final else ())
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    caption = "The split in force while each iteration ran" + (
        ", and the split at the end." if final else "."
    )
    return Plot("plot-split", "Traffic split over iterations", caption, _svg(figure))


def _metric(report: Report, view: MetricView) -> Plot:
    figure, (axes,) = _figure()
    colours = _colours(report.versions)
    x = report.iterations
    intervals = False
    for band in view.bands:
        colour = colours[band.version]
        axes.plot(x, _nan(band.values), marker="o", ms=3, color=colour, label=band.version)
        if any(low is not None for low in band.lows):
            intervals = True
            axes.fill_between(x, _nan(band.lows), _nan(band.highs), color=colour, alpha=0.18)
    for name, limit in (("upper limit", view.upper), ("lower limit", view.lower)):
        if limit is not None:
            axes.axhline(limit, color=LIMIT_COLOUR, ls="--", lw=1.2, label=f"{name} {limit:g}")
    axes.set_ylabel(view.units or "value")
    _iterations_axis(axes, report)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    title = view.key + (f" — {view.role}" if view.role else "")
    caption = "Each version's value per iteration" + (
        "; the band is its 95% credible interval." if intervals else "."
    )
    if view.upper is not None or view.lower is not None:
        caption += " Dashed red: the objective's limits."
    slug = "".join(c if c.isalnum() else "-" for c in view.key)
    return Plot(f"plot-metric-{slug}", title, caption, _svg(figure))


def _evidence(report: Report) -> Plot | None:
    evidence = report.evidence
    panels: list[str] = []
    if evidence.p_best:
        panels.append("pbest")
    panels += [f"e:{v}" for v in evidence.e_values]
    if evidence.comparisons:
        panels.append("comparisons")
    if evidence.objectives_met:
        panels.append("met")
    if not panels:
        return None
    figure, axes_list = _figure(len(panels), 2.6)
    colours = _colours(report.versions)
    x = report.iterations
    for panel, axes in zip(panels, axes_list, strict=True):
        if panel == "pbest":
            for version, series in evidence.p_best.items():
                axes.plot(x, _nan(series), marker="o", ms=3, color=colours[version], label=version)
            axes.set_ylim(-0.02, 1.02)
            axes.set_title("P(best): the posterior probability that each version is the best")
        elif panel == "met":
            for version, series in evidence.objectives_met.items():
                axes.plot(x, _nan(series), marker="o", ms=3, color=colours[version], label=version)
            axes.set_ylim(-0.02, 1.02)
            axes.set_title("Share of objectives met by the point values (iter8-v2 algorithm)")
        elif panel == "comparisons":
            for label, series in evidence.comparisons.items():
                axes.plot(x, _clipped(series, evidence.threshold), marker="o", ms=3, label=label)
            _log_axis(axes, evidence.threshold)
            axes.set_title("Rewards: log e-value that one version beats the other")
        else:
            version = panel[2:]
            palette = _colours(list(evidence.e_values[version]))
            for objective, (holds, fails) in evidence.e_values[version].items():
                colour = palette[objective]
                axes.plot(x, _clipped(holds, evidence.threshold), marker="o", ms=3, color=colour)
                axes.plot(x, _clipped(fails, evidence.threshold), ls=":", color=colour)
                axes.plot([], [], color=colour, label=objective)
            axes.plot([], [], color="grey", label="holds (solid), fails (dotted)")
            _log_axis(axes, evidence.threshold)
            axes.set_title(f"{version}: log e-value of each objective")
        _iterations_axis(axes, report)
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    caption = (
        "An e-value is the evidence a test has gathered; looking every iteration does not "
        "inflate it. Past the green line (ln 1/α) it is proof at level α: an objective proven "
        "to hold or to fail, a reward proven better."
        if evidence.threshold is not None
        else "What the algorithm decided on, per iteration."
    )
    return Plot("plot-evidence", "Evidence over iterations", caption, _svg(figure))


def _clipped(series: Series, threshold: float | None) -> list[float]:
    """Infinite log e-values drawn at the edge of what the finite ones reach."""
    finite = [abs(v) for v in series if v is not None and math.isfinite(v)]
    edge = max([*finite, 10 * (threshold or 1.0)])
    return [math.nan if v is None else max(-edge, min(edge, v)) for v in series]


def _log_axis(axes: Axes, threshold: float | None) -> None:
    axes.set_yscale("symlog", linthresh=1.0)
    axes.set_ylabel("ln e-value (symlog axis)")
    if threshold is not None:
        axes.axhline(threshold, color=PROOF_COLOUR, ls="--", lw=1.2)
        axes.annotate(
            f"proof: ln(1/α) = {threshold:.2f}",
            (0, threshold),
            xycoords=("axes fraction", "data"),
            xytext=(2, 3),
            textcoords="offset points",
            color=PROOF_COLOUR,
            fontsize=8,
        )
