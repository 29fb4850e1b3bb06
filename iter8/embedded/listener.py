"""`python -m iter8.embedded.listener --target PHASE --source FILE --fd N`: one function served
by functions-framework (gunicorn, as its CLI runs it) on a listening socket inherited from the
embedded stack, instead of a host and port of its own (see `iter8.embedded.processes`)."""

from __future__ import annotations

import click
import functions_framework
from functions_framework._http import create_server


@click.command()
@click.option("--target", required=True)
@click.option("--source", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--fd", required=True, type=int, help="An inherited, listening TCP socket.")
def main(target: str, source: str, fd: int) -> None:
    app = functions_framework.create_app(target, source, "http")
    # The server's options override the bind that host and port would make.
    create_server(app, False, bind=[f"fd://{fd}"]).run("127.0.0.1", 0)


if __name__ == "__main__":
    main()
