"""`iter8 manifests`: the cluster YAML (`eventing/config/`, a kustomize base), rendered in Python."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from iter8.kustomize import CONFIG_DIR, KustomizeError, render, to_yaml

INVALID = 2
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _namespace(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
    if value is not None and not _DNS_LABEL.match(value):
        raise click.BadParameter(f"{value!r} is not a valid namespace name (a DNS label)")
    return value


@click.command()
@click.option(
    "--namespace",
    callback=_namespace,
    help="Install iter8 in this namespace instead of iter8-system.",
)
@click.option(
    "--image",
    help="The image of every function and sink, e.g. registry.example/iter8-serverless:0.1.0.",
)
@click.option(
    "--broker-class",
    help="The Broker's class, e.g. Kafka (which also needs spec.config; see docs/cluster.md). "
    "Default: MTChannelBasedBroker.",
)
@click.option(
    "--kustomization",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=CONFIG_DIR,
    show_default="eventing/config",
    help="Render this kustomization instead, e.g. an overlay in eventing/overlays/.",
)
def manifests(
    namespace: str | None, image: str | None, broker_class: str | None, directory: Path
) -> None:
    """Print the YAML that installs iter8 on a cluster with Knative: `iter8 manifests | kubectl
    apply -f -` (the same objects as `kubectl apply -k eventing/config`)."""
    try:
        objects = render(directory, namespace=namespace, image=image, broker_class=broker_class)
    except KustomizeError as error:
        click.echo(f"iter8 manifests: {error}", err=True)
        sys.exit(INVALID)
    click.echo(to_yaml(objects), nl=False)
