"""`iter8 validate FILE...`: exit 0 when every Experiment and Metric is valid, else 2 with one line
per problem (`FILE: field.path: problem`)."""

from __future__ import annotations

import sys

import click
from pydantic import ValidationError

from iter8.api.metric import Metric
from iter8.api.references import MetricKey
from iter8.manifests import Document, ManifestError, read_documents
from iter8.store import METRICS, Store, StoreError
from iter8.validation.documents import MetricLookup, check_documents

INVALID = 2


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False),
    help="Also look up metrics in this cluster.",
)
def validate(files: tuple[str, ...], kubeconfig: str | None) -> None:
    """Check Experiments and Metrics in FILES, read as one set (an experiment and its metrics)."""
    documents: list[Document] = []
    lines: list[str] = []
    for file in files:
        try:
            documents += read_documents(file)
        except ManifestError as error:
            lines.append(f"{error.file}: {error}")
    lookup = _cluster_lookup(kubeconfig) if kubeconfig else None
    lines += problem_lines(documents, lookup)
    checked = sum(1 for d in documents if d.kind in ("Experiment", "Metric"))
    if lines:
        click.echo("\n".join(lines))
        sys.exit(INVALID)
    click.echo(f"{checked} document(s) valid", err=True)


def _cluster_lookup(kubeconfig: str) -> MetricLookup:
    from iter8.store.kubernetes import KubernetesStore

    return metric_lookup(KubernetesStore.from_kubeconfig(kubeconfig))


def metric_lookup(store: Store) -> MetricLookup:
    """Metrics the files do not define, from `store`; one it cannot read counts as absent."""

    def lookup(key: MetricKey) -> Metric | None:
        try:
            return Metric.from_wire(store.get(METRICS, key.namespace, key.name))
        except (StoreError, ValidationError):
            return None

    return lookup


def problem_lines(documents: list[Document], lookup: MetricLookup | None = None) -> list[str]:
    """`FILE: field.path: problem`, one line per problem of the Experiments and Metrics."""
    return [str(problem) for problem in check_documents(documents, lookup)]
