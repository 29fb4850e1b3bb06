"""`iter8`: the entry point; each sub-command lives in a module of its own."""

from __future__ import annotations

import click

from iter8 import __version__
from iter8.cli.analyze import analyze
from iter8.cli.bench import bench
from iter8.cli.broker import broker
from iter8.cli.demo import demo
from iter8.cli.describe import describe
from iter8.cli.run import run
from iter8.cli.serve import serve
from iter8.cli.validate import validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="iter8")
def cli() -> None:
    """Progressive delivery and live experiments, Iter8 v2 compatible, as serverless functions."""


cli.add_command(validate)
cli.add_command(analyze)
cli.add_command(serve)
cli.add_command(describe)
cli.add_command(broker)
cli.add_command(run)
cli.add_command(bench)
cli.add_command(demo)
