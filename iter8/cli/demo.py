"""`iter8 demo`: two versions of a sample app, users whose requests follow the split, a canary
experiment with built-in metrics, run end to end on the embedded stack in about a minute."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from iter8.demo.app import Behaviour, SampleApp
from iter8.demo.experiment import (
    BASELINE,
    CANDIDATE,
    NAMESPACE,
    SERVICE,
    canary,
    knative_service,
)
from iter8.demo.traffic import Users
from iter8.embedded.run import create, succeeded, wait
from iter8.embedded.stack import EmbeddedStack, StackOptions
from iter8.manifests import Document
from iter8.store.sqlite import SqliteStore


@click.command()
@click.option(
    "--candidate-latency",
    type=float,
    default=30,
    show_default=True,
    help="Median latency (ms) of the candidate; the baseline's is 50.",
)
@click.option(
    "--candidate-error-rate",
    type=float,
    default=0.002,
    show_default=True,
    help="Fraction of the candidate's requests that fail; the baseline's is 0.005. Try 0.1.",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--timeout", type=float, default=300, show_default=True, help="Give up after this many seconds."
)
def demo(candidate_latency: float, candidate_error_rate: float, seed: int, timeout: float) -> None:
    """A canary on two local versions of an app; the candidate is better unless you say otherwise."""
    work = Path(tempfile.mkdtemp(prefix="iter8-demo-"))
    store_path = work / "store.db"
    store = SqliteStore(store_path)
    apps = {
        BASELINE: SampleApp(BASELINE, Behaviour(latency_ms=50, error_rate=0.005), seed).start(),
        CANDIDATE: SampleApp(
            CANDIDATE, Behaviour(candidate_latency, candidate_error_rate), seed + 1
        ).start(),
    }
    urls = {name: app.url for name, app in apps.items()}
    say = lambda line: click.echo(line, err=True)  # noqa: E731 - a one-line reporter
    say(f"iter8 demo: {BASELINE} at {urls[BASELINE]}, {CANDIDATE} at {urls[CANDIDATE]}")
    say(
        "iter8 demo: 'users:' counts the simulated users' requests, which follow the split; "
        "the analysis measures each version with its own metrics/collect requests"
    )
    options = StackOptions(store=f"sqlite:{store_path}", seed=seed, log_dir=work / "logs")
    users = Users(store, NAMESPACE, SERVICE, urls, seed=seed)
    try:
        with EmbeddedStack(store, options):
            documents = [
                Document("demo", i, 1, d) for i, d in enumerate([knative_service(), canary(urls)])
            ]
            refs = create(store, documents)
            users.start()
            final = wait(store, refs, lambda line: say(f"{line}  {_served(users)}"), timeout)
    finally:
        users.stop()
        for app in apps.values():
            app.stop()
    experiment = final[0]
    status = experiment.status
    assert status is not None
    say("")
    say(f"Outcome: {status.message}")
    split = ", ".join(f"{w.name} {w.value}%" for w in status.current_weight_distribution or [])
    say(f"Traffic now: {split}")
    say(f"Served: {_served(users)}")
    say(
        "  (what the simulated users sent, following the split. The analysis judges other "
        "requests:\n   the 60 that its metrics/collect task sends to each version every "
        "iteration, whatever the split;\n   describe's request-count shows how many it counted.)"
    )
    say("")
    say("Where to look next:")
    say(f"  iter8 describe --store {store_path} {NAMESPACE}/demo    # the decision and why")
    say(f"  ls {options.log_dir}    # each function's log, and the events the sinks received")
    say("  iter8 demo --candidate-error-rate 0.1    # a bad candidate: watch it roll back")
    sys.exit(0 if succeeded(final) else 1)


def _served(users: Users) -> str:
    counts = [
        f"{name} {users.served[name]} ({users.failed[name]} failed)"
        for name in (BASELINE, CANDIDATE)
    ]
    return "users: " + ", ".join(counts)
