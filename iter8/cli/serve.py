"""`iter8 serve PHASE`: one function, as Knative would run it (functions-framework, `PORT`)."""

from __future__ import annotations

import os

import click

from iter8.embedded.processes import PHASES, command


@click.command()
@click.argument("phase", type=click.Choice(PHASES))
@click.option("--port", type=int, envvar="PORT", default=8080, show_default=True)
@click.option(
    "--host",
    envvar="HOST",
    default="127.0.0.1",
    show_default=True,
    help="Interface to bind; a container on Knative sets HOST=0.0.0.0.",
)
def serve(phase: str, port: int, host: str) -> None:
    """Serve the PHASE function. State: ITER8_STORE (sqlite:<path> | kubernetes); broker: K_SINK."""
    argv = command(phase, port)
    argv[argv.index("--host") + 1] = host
    os.execv(argv[0], argv)  # the function becomes this process, so signals reach it directly
