"""`iter8 describe FILE|NAME`: the experiment in words and tables, with why."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from iter8.api.experiment import Experiment
from iter8.describe import describe as render
from iter8.manifests import ManifestError, read_documents
from iter8.store import EXPERIMENTS, NotFound, Store, StoreError
from iter8.validation.loading import load


@click.command()
@click.argument("experiment")
@click.option(
    "--store",
    "store_path",
    type=click.Path(dir_okay=False),
    help="An embedded store file (iter8 run --store).",
)
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False),
    help="Read NAME from this cluster.",
)
def describe(experiment: str, store_path: str | None, kubeconfig: str | None) -> None:
    """Describe EXPERIMENT: a YAML/JSON file holding it (with its status), or `[namespace/]name`
    in the store of --store or --kubeconfig."""
    if Path(experiment).is_file():
        data = _from_file(experiment)
    elif store_path or kubeconfig:
        data = _from_store(_store(store_path, kubeconfig), experiment)
    else:
        _fail(f"{experiment}: no such file; to read it from a store, give --store or --kubeconfig")
    loaded = load(Experiment, data)
    if isinstance(loaded, list):
        _fail("; ".join(f"{experiment}: {p}" for p in loaded))
    click.echo(render(loaded), nl=False)


def _from_file(path: str) -> object:
    try:
        documents = [d for d in read_documents(path) if d.kind == "Experiment"]
    except ManifestError as error:
        _fail(f"{error.file}: {error}")
    if not documents:
        _fail(f"{path}: holds no Experiment")
    return documents[0].data


def _store(store_path: str | None, kubeconfig: str | None) -> Store:
    if kubeconfig:
        from iter8.store.kubernetes import KubernetesStore

        return KubernetesStore.from_kubeconfig(kubeconfig)
    from iter8.store.sqlite import SqliteStore, check_store_file

    assert store_path is not None
    if not Path(store_path).is_file():
        _fail(f"{store_path}: no such store file")
    try:
        check_store_file(store_path)  # read-only: a file of something else is left as it is
        return SqliteStore(store_path)
    except StoreError as error:
        _fail(error.message)


def _from_store(store: Store, name: str) -> object:
    namespace, _, short = name.rpartition("/")
    try:
        return store.get(EXPERIMENTS, namespace or "default", short)
    except NotFound:
        _fail(f"experiment {namespace or 'default'}/{short} not found")
    except StoreError as error:  # a damaged store names its file and the object
        _fail(error.message)
    finally:
        store.close()


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(2)
