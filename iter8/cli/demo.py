"""`iter8 demo`: two versions of a sample app behind the embedded router, users sending real
HTTP through it, and an experiment of the chosen pattern run end to end on the embedded stack."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from iter8.demo.app import Behaviour
from iter8.demo.experiment import CANDIDATE, NAMESPACE
from iter8.demo.run import Observation, Settings, describe_seen, play
from iter8.demo.scenarios import MIRROR_PERCENT, SCENARIOS, Scenario


@click.command()
@click.option(
    "--scenario",
    type=click.Choice(list(SCENARIOS)),
    default="canary",
    show_default=True,
    help="The pattern: a canary, a user segment, a mirror (dark launch), sticky sessions, "
    "BlueGreen or FixedSplit.",
)
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
    "--interval",
    type=click.IntRange(1, 60),
    default=2,
    show_default=True,
    help="Seconds between the experiment's iterations.",
)
@click.option(
    "--timeout", type=float, default=300, show_default=True, help="Give up after this many seconds."
)
def demo(
    scenario: str,
    candidate_latency: float,
    candidate_error_rate: float,
    seed: int,
    interval: int,
    timeout: float,
) -> None:
    """An experiment on two local versions of an app; the candidate is better unless you say
    otherwise. Users' requests go through the embedded router, which follows the routing object."""
    chosen = SCENARIOS[scenario]
    settings = Settings(
        candidate=Behaviour(candidate_latency, candidate_error_rate),
        seed=seed,
        timeout=timeout,
        interval_seconds=interval,
    )
    say = lambda line: click.echo(line, err=True)  # noqa: E731 - a one-line reporter
    say(
        "iter8 demo: 'users:' counts the users' requests, which the router sends where the "
        "routing object says; the analysis measures each version with its own metrics/collect "
        "requests"
    )
    observation = play(chosen, settings, say)
    report(chosen, observation, say)
    sys.exit(0 if observation.succeeded else 1)


def report(scenario: Scenario, seen: Observation, say: Callable[[str], None]) -> None:
    status = seen.experiment.status
    assert status is not None
    say("")
    say(f"Outcome: {status.message}")
    split = ", ".join(f"{w.name} {w.value}%" for w in status.current_weight_distribution or [])
    say(f"Traffic now: {split}")
    say(f"What users saw through the router ({seen.router_url}), share of requests by version:")
    for line in describe_seen(seen, [g.name for g in scenario.groups]):
        say(line)
    splits = " → ".join("/".join(str(w) for w in s.values()) for s in seen.splits)
    say(f"Splits the router routed by (baseline/candidate): {splits}")
    if scenario.name == "mirror":
        say(
            f"Mirrored to {CANDIDATE}: {seen.mirrored} copies of {MIRROR_PERCENT}% of requests "
            f"(answers discarded; {seen.mirror_dropped} dropped at the in-flight bound)"
        )
        left = "none" if not seen.leftovers else f"{seen.leftovers} to remove"
        say(f"Mirrors left in the routing object after the experiment: {left}")
    if scenario.name == "sticky":
        for group, share in seen.switched.items():
            shown = "-" if share is None else f"{100 * share:.0f}%"
            say(f"  users who switched version during the experiment, {group}: {shown}")
    say("")
    say("Where to look next:")
    say(f"  iter8 describe --store {seen.store_path} {NAMESPACE}/demo    # the decision and why")
    say(f"  ls {seen.log_dir}    # each function's log, and the events the sinks received")
    say("  iter8 demo --candidate-error-rate 0.1    # a bad candidate: watch it roll back")
    others = "|".join(s for s in SCENARIOS if s != scenario.name)
    say(f"  iter8 demo --scenario {others}    # another pattern")
