"""`iter8 describe FILE|NAME`: the experiment in words and tables, with why."""

from __future__ import annotations

from pathlib import Path

import click

from iter8.api.experiment import Experiment
from iter8.cli.stores import fail, open_store, read_experiment, store_options
from iter8.describe import describe as render
from iter8.manifests import ManifestError, read_documents
from iter8.validation.loading import load


@click.command()
@click.argument("experiment")
@store_options
def describe(experiment: str, store_path: str | None, kubeconfig: str | None) -> None:
    """Describe EXPERIMENT: a YAML/JSON file holding it (with its status), or `[namespace/]name`
    in the store of --store or --kubeconfig."""
    if Path(experiment).is_file():
        data = _from_file(experiment)
    elif store_path or kubeconfig:
        store = open_store(store_path, kubeconfig)
        try:
            data = read_experiment(store, experiment)
        finally:
            store.close()
    else:
        fail(f"{experiment}: no such file; to read it from a store, give --store or --kubeconfig")
    loaded = load(Experiment, data)
    if isinstance(loaded, list):
        fail("; ".join(f"{experiment}: {p}" for p in loaded))
    click.echo(render(loaded), nl=False)


def _from_file(path: str) -> object:
    try:
        documents = [d for d in read_documents(path) if d.kind == "Experiment"]
    except ManifestError as error:
        fail(f"{error.file}: {error}")
    if not documents:
        fail(f"{path}: holds no Experiment")
    return documents[0].data
