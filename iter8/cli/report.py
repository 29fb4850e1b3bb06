"""`iter8 report EXPERIMENT [-o FILE]`: the experiment as one HTML page that opens offline."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from iter8.cli.stores import fail, load_experiment, store_options
from iter8.lifecycle.status import timestamp


@click.command()
@click.argument("experiment")
@click.option(
    "-o",
    "--output",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Where to write the page; `-` for stdout.",
)
@store_options
def report(experiment: str, output: str, store_path: str | None, kubeconfig: str | None) -> None:
    """Write EXPERIMENT's report: the split, every metric with its interval against its limits
    and the evidence over iterations, the decision and why, and the timeline, as one HTML file
    with its plots inside. EXPERIMENT is a YAML/JSON file holding it (with its status), or
    `[namespace/]name` in the store of --store or --kubeconfig, as for `iter8 describe`."""
    from iter8.report import MissingPlotting, html

    loaded = load_experiment(experiment, store_path, kubeconfig)
    try:
        page = html(loaded, timestamp(datetime.now(UTC)))
    except MissingPlotting as error:
        fail(str(error))
    if output == "-":
        sys.stdout.write(page)
        return
    Path(output).write_text(page, encoding="utf-8")
    click.echo(f"iter8: wrote {output} ({len(page.encode()) // 1024} KiB)", err=True)
