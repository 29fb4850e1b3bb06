"""`iter8 serve PHASE`: one function, as Knative would run it (functions-framework, `PORT`).

The server runs in this process (no second interpreter to start: spawn → serving is what a
cold start on Knative costs), so signals reach it directly."""

from __future__ import annotations

import click

from iter8.embedded.processes import PHASES, source_of


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
    from functions.server import FunctionServer

    FunctionServer(phase, str(source_of(phase)), f"{host}:{port}").run()
