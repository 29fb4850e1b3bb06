"""`python -m iter8.embedded.listener --target PHASE --source FILE (--fd N | --host H --port P)`:
one function served by gunicorn as `functions.server` sets it up, on a listening socket
inherited from the embedded stack (see `iter8.embedded.processes`) or on a host and port of its
own (`iter8 serve`). With `--parent PID` it ends when that process does (`lifeline`)."""

from __future__ import annotations

import signal

import click

from functions.server import FunctionServer
from iter8.embedded.lifeline import die_with_parent


@click.command()
@click.option("--target", required=True)
@click.option("--source", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--fd", type=int, help="An inherited, listening TCP socket.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--parent", type=int, help="End when the process with this pid (the parent) ends.")
def main(
    target: str, source: str, fd: int | None, host: str, port: int, parent: int | None
) -> None:
    if parent is not None:
        die_with_parent(signal.SIGTERM, parent)
    bind = f"fd://{fd}" if fd is not None else f"{host}:{port}"
    FunctionServer(target, source, bind).run()


if __name__ == "__main__":
    main()
