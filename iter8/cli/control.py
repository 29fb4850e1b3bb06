"""`iter8 pause|resume|abort|approve EXPERIMENT` and `iter8 promote EXPERIMENT VERSION`: an
operator's control of a running experiment, written as annotations on it
(`iter8.lifecycle.control` says which and what the functions do with them).

Each writes and returns: the functions act at their next step (within a tick) and record it in a
condition that `iter8 describe` shows. Asking again changes nothing (exit 0); a command that
makes no sense for the experiment now (abort a completed one) is refused with exit 2.
"""

from __future__ import annotations

import click

from iter8.api.experiment import Experiment
from iter8.cli.stores import fail, open_store, read_experiment, split_name, store_options
from iter8.lifecycle import control
from iter8.store import EXPERIMENTS, PatchType, StoreError
from iter8.validation.loading import load_lenient

WHAT_HAPPENS = {
    "pause": "no further iteration runs and the split stays; `iter8 resume` goes on",
    "resume": "iterations go on from where they stopped",
    "abort": "traffic goes back to the baseline and the experiment ends",
    "approve": "the promotion waiting for approval goes ahead",
    "promote": "all traffic goes to {value} and the experiment ends",
}


def _act(
    name: str,
    command: control.Command,
    value: str | None,
    store_path: str | None,
    kubeconfig: str | None,
) -> None:
    store = open_store(store_path, kubeconfig)
    try:
        raw = read_experiment(store, name)
        experiment, _ = load_lenient(Experiment, raw)
        if experiment is None:
            fail(f"{name}: the stored object is not a valid Experiment")
        namespace, short = split_name(name)
        wanted = control.annotations_to_write(experiment, command, value)
        if isinstance(wanted, control.Refused):
            fail(f"{namespace}/{short} {wanted.message}")
        if isinstance(wanted, control.Unchanged):
            click.echo(f"{namespace}/{short} {wanted.message}")
            return
        try:
            patch = {"metadata": {"annotations": wanted}}
            store.patch(EXPERIMENTS, namespace, short, patch, PatchType.MERGE)
        except StoreError as error:
            fail(f"{namespace}/{short}: {error.message}")
        effect = WHAT_HAPPENS[command].format(value=value)
        click.echo(f"{namespace}/{short}: {command} asked: at the next step {effect}")
    finally:
        store.close()


@click.command()
@click.argument("experiment")
@store_options
def pause(experiment: str, store_path: str | None, kubeconfig: str | None) -> None:
    """Pause EXPERIMENT (`[namespace/]name`): no iteration runs, the split stays as it is."""
    _act(experiment, "pause", None, store_path, kubeconfig)


@click.command()
@click.argument("experiment")
@store_options
def resume(experiment: str, store_path: str | None, kubeconfig: str | None) -> None:
    """Resume a paused EXPERIMENT."""
    _act(experiment, "resume", None, store_path, kubeconfig)


@click.command()
@click.argument("experiment")
@click.option("--reason", default="aborted by an operator", show_default=True)
@store_options
def abort(experiment: str, reason: str, store_path: str | None, kubeconfig: str | None) -> None:
    """Abort EXPERIMENT now: roll back to the baseline, with REASON in its status and events."""
    _act(experiment, "abort", reason, store_path, kubeconfig)


@click.command()
@click.argument("experiment")
@store_options
def approve(experiment: str, store_path: str | None, kubeconfig: str | None) -> None:
    """Approve the promotion of EXPERIMENT, which asks for approval (annotation
    `iter8.tools/approval: required`); it may be given before the experiment gets there."""
    _act(experiment, "approve", None, store_path, kubeconfig)


@click.command()
@click.argument("experiment")
@click.argument("version")
@store_options
def promote(experiment: str, version: str, store_path: str | None, kubeconfig: str | None) -> None:
    """Promote VERSION of EXPERIMENT now, whatever the analysis says, and end it."""
    _act(experiment, "promote", version, store_path, kubeconfig)
