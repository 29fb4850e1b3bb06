"""Where the commands that read or change experiments find them: `--store FILE` (an embedded
store, as `iter8 run --store` keeps) or `--kubeconfig FILE` (a cluster). Shared by `describe`,
`report`, `get`, `list` and the control commands, so that they take EXPERIMENT alike: `[namespace/]name`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from iter8.api.experiment import Experiment
from iter8.manifests import ManifestError, read_documents
from iter8.store import EXPERIMENTS, NotFound, Store, StoreError
from iter8.validation.loading import load

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_NAMESPACE = "default"


def store_options(command: F) -> F:
    """`--store` and `--kubeconfig`, as every command reading experiments takes them."""
    command = click.option(
        "--kubeconfig",
        type=click.Path(exists=True, dir_okay=False),
        help="Read (and write) experiments in this cluster.",
    )(command)
    return click.option(
        "--store",
        "store_path",
        type=click.Path(dir_okay=False),
        help="An embedded store file (iter8 run --store FILE).",
    )(command)


def open_store(store_path: str | None, kubeconfig: str | None) -> Store:
    """The store of --kubeconfig or --store; exit 2 saying which to give if neither is."""
    if kubeconfig:
        from iter8.store.kubernetes import KubernetesStore

        return KubernetesStore.from_kubeconfig(kubeconfig)
    if not store_path:
        fail("give --store FILE (an embedded store) or --kubeconfig FILE (a cluster)")
    from iter8.store.sqlite import SqliteStore, check_store_file

    if not Path(store_path).is_file():
        fail(f"{store_path}: no such store file")
    try:
        check_store_file(store_path)  # read-only: a file of something else is left as it is
        return SqliteStore(store_path)
    except StoreError as error:
        fail(error.message)


def split_name(name: str) -> tuple[str, str]:
    """`[namespace/]name` → (namespace, name); the namespace defaults as kubectl's does."""
    namespace, _, short = name.rpartition("/")
    return namespace or DEFAULT_NAMESPACE, short


def read_experiment(store: Store, name: str) -> dict[str, Any]:
    """The stored experiment `[namespace/]name`, or exit 2 saying it is not there."""
    namespace, short = split_name(name)
    try:
        return store.get(EXPERIMENTS, namespace, short)
    except NotFound:
        fail(f"experiment {namespace}/{short} not found")
    except StoreError as error:  # a damaged store names its file and the object
        fail(error.message)


def load_experiment(experiment: str, store_path: str | None, kubeconfig: str | None) -> Experiment:
    """EXPERIMENT as `describe` and `report` take it: a YAML/JSON file holding it (with its
    status), or `[namespace/]name` in the store of --store or --kubeconfig; exit 2 naming the
    problem otherwise."""
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
    return loaded


def _from_file(path: str) -> object:
    try:
        documents = [d for d in read_documents(path) if d.kind == "Experiment"]
    except ManifestError as error:
        fail(f"{error.file}: {error}")
    if not documents:
        fail(f"{path}: holds no Experiment")
    return documents[0].data


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)
