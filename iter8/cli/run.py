"""`iter8 run FILE`: run the experiment in FILE to the end on the embedded stack."""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
from contextlib import AbstractContextManager, ExitStack, nullcontext
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from iter8.cli.validate import metric_lookup, problem_lines
from iter8.embedded.run import RunError, create, release_claims, succeeded, wait
from iter8.embedded.stack import EmbeddedStack, StackOptions
from iter8.embedded.store_lock import StoreBusy, hold
from iter8.embedded.supervisor import FunctionFailed
from iter8.manifests import ManifestError, read_documents
from iter8.store import Store
from iter8.store.base import StoreError
from iter8.tasks import TaskFailed

if TYPE_CHECKING:
    from iter8.report.live import LiveReport

FAILED, INVALID = 1, 2
TERMINATED = 128 + signal.SIGTERM


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False),
    help="Keep the experiment in this cluster; the functions run here against it.",
)
@click.option(
    "--namespace",
    help="Drive only the experiments of this namespace (default: every namespace of the store).",
)
@click.option(
    "--store",
    "store_path",
    type=click.Path(dir_okay=False),
    help="The embedded store file (default: a new temporary one).",
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--seed", type=int, help="Fix the analysis' randomness.")
@click.option("--timeout", type=float, help="Give up after this many seconds.")
@click.option("--tick", type=float, default=1.0, show_default=True, help="Seconds between ticks.")
@click.option(
    "--report-port",
    type=click.IntRange(0, 65535),
    help="Serve the live report (as iter8 report draws it) on http://127.0.0.1:PORT/.",
)
def run(
    file: str,
    kubeconfig: str | None,
    namespace: str | None,
    store_path: str | None,
    output: str,
    seed: int | None,
    timeout: float | None,
    tick: float,
    report_port: int | None,
) -> None:
    """Run the Experiment(s) in FILE, with the Metrics, Secrets and routed objects beside them,
    until they complete. Progress goes to stderr; exit 0 if they complete, 1 if one failed."""
    try:
        documents = read_documents(file)
    except ManifestError as error:
        _fail(f"{error.file}: {error}", INVALID)
    try:
        store, spec = _store(kubeconfig, store_path)
        problems = problem_lines(documents, metric_lookup(store), all_names=True)  # before start
    except StoreError as error:  # a --store file that is not a store, or a damaged one
        _fail(str(error), INVALID)
    if problems:
        _fail("\n".join(problems), INVALID)
    exclusive = ExitStack()
    if store_path and not kubeconfig:  # one run at a time drives a store file
        try:
            exclusive.enter_context(hold(Path(store_path)))
        except StoreBusy as busy:
            _fail(str(busy), INVALID)
    options = StackOptions(
        store=spec,
        kubeconfig=kubeconfig,
        tick=timedelta(seconds=tick),
        seed=seed,
        namespace=namespace,
        report=lambda line: click.echo(f"iter8: {line}", err=True),
    )
    hint = _how_to_continue(file, store_path, kubeconfig)
    _stop_on_sigterm()  # before the first line: a caller may stop the run once it sees one
    try:  # from the first line on, a stop says how to go on
        click.echo(f"iter8: logs of the functions and the events in {options.log_dir}", err=True)
        if store_path and not kubeconfig:  # held: whatever claims the store holds, no run is
            release_claims(store, options.report)  # at work on them (`embedded.store_lock`)
        with (
            exclusive,
            EmbeddedStack(store, options) as stack,
            _live_report(store, report_port) as live,
        ):
            try:
                refs = create(store, documents, options.report)
                if live is not None:
                    live.show(refs)
                final = wait(
                    store,
                    refs,
                    lambda line: click.echo(line, err=True),
                    timeout,
                    health=stack.check,
                )
            except (RunError, TaskFailed) as error:
                _fail(f"{file}: {getattr(error, 'message', error)}", INVALID)
            except (TimeoutError, FunctionFailed) as error:
                _fail(f"{file}: {error}\n{hint}", FAILED)
    except KeyboardInterrupt:
        click.echo(hint, err=True)
        raise
    except SystemExit as stopped:
        if stopped.code == TERMINATED:
            click.echo(hint, err=True)
        raise
    if output == "json":
        documents_out = [e.to_wire() for e in final]
        click.echo(
            json.dumps(documents_out[0] if len(documents_out) == 1 else documents_out, indent=2)
        )
    sys.exit(0 if succeeded(final) else FAILED)


def _store(kubeconfig: str | None, store_path: str | None) -> tuple[Store, str]:
    if kubeconfig:
        from iter8.store.kubernetes import KubernetesStore

        return KubernetesStore.from_kubeconfig(kubeconfig), "kubernetes"
    from iter8.store.sqlite import SqliteStore, check_store_file

    if store_path:
        path = Path(store_path)
        if path.exists() and path.stat().st_size:  # never turn another file into a store
            check_store_file(path)
    else:  # a directory only its owner may enter (mkdtemp), removed when the run ends
        directory = tempfile.mkdtemp(prefix="iter8-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        path = Path(directory) / "store.db"
    if not path.exists():  # it holds the manifests' Secrets: for its owner's eyes only
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    return SqliteStore(path), f"sqlite:{path.resolve()}"


def _live_report(store: Store, port: int | None) -> AbstractContextManager[LiveReport | None]:
    if port is None:
        return nullcontext()
    from iter8.report.live import LiveReport
    from iter8.report.plots import INSTALL

    if importlib.util.find_spec("matplotlib") is None:
        _fail(f"--report-port draws its plots with matplotlib: {INSTALL}", INVALID)
    try:
        live = LiveReport(store, port)
    except OSError as error:
        _fail(f"--report-port {port}: {error.strerror}", INVALID)
    click.echo(f"iter8: live report at {live.url}", err=True)
    return live


def _how_to_continue(file: str, store_path: str | None, kubeconfig: str | None) -> str:
    """What a stopped run leaves, and the command that continues it (`embedded.run.create`)."""
    if kubeconfig:
        again = f"iter8 run {shlex.quote(file)} --kubeconfig {shlex.quote(kubeconfig)}"
    elif store_path:
        again = f"iter8 run {shlex.quote(file)} --store {shlex.quote(store_path)}"
    else:
        return (
            "iter8: the experiment was in a temporary store, gone with this run; with "
            "--store FILE, the same command continues a stopped run"
        )
    return f"iter8: stopped mid-way; `{again}` continues it where it stands"


def _stop_on_sigterm() -> None:
    """SIGTERM ends the run as Ctrl-C does: the stack stops what it started, in order. A second
    one is ignored so that it cannot cut that short; should the run be killed outright, the
    functions end with it by their parent-death signal."""

    def stop(signum: int, _frame: object) -> None:
        signal.signal(signum, signal.SIG_IGN)
        click.echo(f"iter8: {signal.Signals(signum).name}: stopping", err=True)
        raise SystemExit(TERMINATED)

    signal.signal(signal.SIGTERM, stop)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)
