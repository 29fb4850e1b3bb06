"""`iter8 describe FILE|NAME`: the experiment in words and tables, with why."""

from __future__ import annotations

import click

from iter8.cli.stores import load_experiment, store_options
from iter8.describe import describe as render


@click.command()
@click.argument("experiment")
@store_options
def describe(experiment: str, store_path: str | None, kubeconfig: str | None) -> None:
    """Describe EXPERIMENT: a YAML/JSON file holding it (with its status), or `[namespace/]name`
    in the store of --store or --kubeconfig."""
    click.echo(render(load_experiment(experiment, store_path, kubeconfig)), nl=False)
