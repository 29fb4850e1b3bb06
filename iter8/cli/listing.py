"""`iter8 list` and `iter8 get EXPERIMENT`: experiments in a store, with kubectl-like columns
(namespace, name, pattern, stage, iteration, winner, split, age), or one as YAML or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
import yaml

from iter8.api.defaults import max_iterations
from iter8.api.experiment import Experiment
from iter8.cli.stores import fail, open_store, read_experiment, store_options
from iter8.lifecycle import control
from iter8.lifecycle.status import is_true, parse_time
from iter8.store import EXPERIMENTS, StoreError
from iter8.validation.loading import load_lenient

COLUMNS = ("NAMESPACE", "NAME", "PATTERN", "STAGE", "ITERATION", "WINNER", "SPLIT", "AGE")


def row(raw: dict[str, Any], now: datetime) -> tuple[str, ...]:
    """One experiment's columns; a stored object that is no valid Experiment still gets a row."""
    meta = raw.get("metadata") or {}
    experiment, _ = load_lenient(Experiment, raw)
    age = _age(meta.get("creationTimestamp"), now)
    if experiment is None:
        return (meta.get("namespace", ""), meta.get("name", ""), "?", "invalid", "", "", "", age)
    status = experiment.status
    analysis = status.analysis if status else None
    assessment = analysis.winner_assessment if analysis else None
    winner = (assessment.data or {}) if assessment else {}
    found = winner.get("winner") if winner.get("winnerFound") else None
    split = (
        " ".join(f"{w.name}={w.value}" for w in (status.current_weight_distribution or []))
        if status
        else ""
    )
    return (
        experiment.namespace,
        experiment.metadata.name or "",
        experiment.spec.strategy.testing_pattern,
        _stage(experiment),
        f"{(status.completed_iterations or 0) if status else 0}/{max_iterations(experiment)}",
        found or "-",
        split or "-",
        age,
    )


def _stage(experiment: Experiment) -> str:
    """The stage, and what holds it: paused, waiting for approval, failed, aborted."""
    status = experiment.status
    if status is None or status.stage is None:
        return "Pending"
    for kind, shown in (
        ("Failed", "Failed"),
        (control.CONDITION_ABORTED, "Aborted"),
        (control.CONDITION_PAUSED, "Paused"),
        (control.CONDITION_AWAITING_APPROVAL, "AwaitingApproval"),
    ):
        if is_true(status, kind):
            return f"{status.stage} ({shown})"
    return status.stage


def _age(created: str | None, now: datetime) -> str:
    """kubectl's style: 45s, 12m, 3h, 2d."""
    if not created:
        return "-"
    seconds = max(0, int((now - parse_time(created)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table(rows: Sequence[Sequence[str]]) -> str:
    """Plain columns, left-aligned, two spaces apart, as kubectl prints them."""
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = [
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [COLUMNS, *rows]
    ]
    return "\n".join(lines) + "\n"


def _dump(data: Any, output: str) -> str:
    if output == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False)


@click.command(name="list")
@click.option("-n", "--namespace", help="Only this namespace (default: every namespace).")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@store_options
def list_(
    namespace: str | None, output: str, store_path: str | None, kubeconfig: str | None
) -> None:
    """The experiments in the store of --store or --kubeconfig."""
    store = open_store(store_path, kubeconfig)
    try:
        items, _ = store.list(EXPERIMENTS, namespace)
    except StoreError as error:
        fail(error.message)
    finally:
        store.close()
    items.sort(key=lambda i: (i["metadata"].get("namespace", ""), i["metadata"].get("name", "")))
    if output != "table":
        click.echo(_dump({"apiVersion": "v1", "kind": "List", "items": items}, output), nl=False)
        return
    if not items:
        click.echo("No experiments found.", err=True)
        return
    now = datetime.now(UTC)
    click.echo(table([row(i, now) for i in items]), nl=False)


@click.command()
@click.argument("experiment")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@store_options
def get(experiment: str, output: str, store_path: str | None, kubeconfig: str | None) -> None:
    """EXPERIMENT (`[namespace/]name`): one row, or the whole object with -o yaml|json."""
    store = open_store(store_path, kubeconfig)
    try:
        raw = read_experiment(store, experiment)
    finally:
        store.close()
    if output == "table":
        click.echo(table([row(raw, datetime.now(UTC))]), nl=False)
    else:
        click.echo(_dump(raw, output), nl=False)
