"""`iter8`: the entry point; each sub-command lives in a module of its own, imported only when it
runs, so that `iter8 validate` never loads the broker or numpy."""

from __future__ import annotations

import importlib

import click

from iter8 import __version__

COMMANDS = {
    "abort": "iter8.cli.control",
    "analyze": "iter8.cli.analyze",
    "approve": "iter8.cli.control",
    "bench": "iter8.cli.bench",
    "broker": "iter8.cli.broker",
    "demo": "iter8.cli.demo",
    "get": "iter8.cli.listing",
    "list": "iter8.cli.listing",
    "describe": "iter8.cli.describe",
    "manifests": "iter8.cli.manifests",
    "report": "iter8.cli.report",
    "pause": "iter8.cli.control",
    "promote": "iter8.cli.control",
    "resume": "iter8.cli.control",
    "run": "iter8.cli.run",
    "serve": "iter8.cli.serve",
    "validate": "iter8.cli.validate",
}


class LazyGroup(click.Group):
    """Sub-commands named in COMMANDS are imported on first use (module attribute = the name)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            module = importlib.import_module(COMMANDS[name])
            # `list_`: a command named like a builtin keeps the builtin usable in its module
            self.add_command(getattr(module, name, None) or getattr(module, f"{name}_"), name)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="iter8")
def cli() -> None:
    """Progressive delivery and live experiments, Iter8 v2 compatible, as serverless functions."""
