"""`iter8 broker`: the embedded Knative-style broker on 127.0.0.1, serving the same Broker and
Trigger manifests a cluster applies."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import click

from eventing.broker import DEFAULT_MANIFESTS, ConfigError, EmbeddedBroker, Limits, SubscriberMap

INVALID = 2
# Where the functions and sinks listen when run on this machine, one port each (as
# eventing/broker/README.md shows them: `iter8 serve init --port 8081`, and so on). A bare
# `iter8 broker` routes to these; `--subscriber NAME=URL` overrides one.
DEFAULT_SUBSCRIBERS = {
    "iter8-init": "http://127.0.0.1:8081",
    "iter8-analyze": "http://127.0.0.1:8082",
    "iter8-route": "http://127.0.0.1:8083",
    "iter8-promote": "http://127.0.0.1:8084",
    "iter8-deadletter": "http://127.0.0.1:8085",
    "iter8-notifier": "http://127.0.0.1:8086",
}


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
@click.option(
    "--triggers",
    "manifests",
    multiple=True,
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False),
    help="Broker and Trigger manifests (repeatable). "
    "Default: eventing/config/broker.yaml and triggers.yaml.",
)
@click.option(
    "--subscriber",
    "subscribers",
    multiple=True,
    metavar="NAME=URL",
    help="Where a subscriber or dead-letter ref goes, e.g. "
    "iter8-init=http://127.0.0.1:9001 (repeatable; NAME or NAMESPACE/NAME). Default: "
    "iter8-init, -analyze, -route, -promote, -deadletter, -notifier on 127.0.0.1:8081 to 8086.",
)
@click.option(
    "--async",
    "async_mode",
    is_flag=True,
    help="Answer 202 once queued instead of after delivery (Kafka-broker-like).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Delivery threads in --async mode.",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(1),
    default=Limits.max_body,
    show_default=True,
    help="Largest request body; larger ones get 413.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1),
    default=Limits.max_connections,
    show_default=True,
    help="Client connections served at once; more wait to be accepted.",
)
@click.option(
    "--max-queue",
    type=click.IntRange(1),
    default=Limits.max_queue,
    show_default=True,
    help="Deliveries queued or under way in --async mode; past it events get 503.",
)
@click.option(
    "--drain-seconds",
    type=click.FloatRange(0),
    default=Limits.drain_seconds,
    show_default=True,
    help="On SIGTERM/SIGINT, how long deliveries may still take; what is left is "
    "dead-lettered or logged.",
)
def broker(
    port: int,
    manifests: tuple[str, ...],
    subscribers: tuple[str, ...],
    async_mode: bool,
    workers: int,
    max_body_bytes: int,
    max_connections: int,
    max_queue: int,
    drain_seconds: float,
) -> None:
    """Serve Knative Brokers and Triggers from manifests until SIGTERM or SIGINT, then drain."""
    # Refusals (4xx and why, clients gone) one line each; lost deliveries as warnings.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        given = SubscriberMap.parse(subscribers)
        resolver = SubscriberMap({**DEFAULT_SUBSCRIBERS, **given.urls})
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--subscriber") from error
    limits = Limits(
        max_body=max_body_bytes,
        max_connections=max_connections,
        max_queue=max_queue,
        drain_seconds=drain_seconds,
    )
    try:
        embedded = EmbeddedBroker.from_files(
            manifests or DEFAULT_MANIFESTS,
            resolver,
            async_mode=async_mode,
            workers=workers,
            limits=limits,
        )
    except ConfigError as error:
        click.echo("\n".join(error.problems), err=True)
        sys.exit(INVALID)
    running = embedded.serve(port=port)
    engine = running.engine
    for spec in engine.config.brokers:
        click.echo(
            f"broker {spec.namespace}/{spec.name}: {running.broker_url(spec.namespace, spec.name)}"
        )
    for target in engine.targets():
        ref = target.trigger.subscriber.describe()
        click.echo(f"  trigger {target.name}: {ref} -> {target.url}")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)  # before saying it serves: a stop then drains
    signal.signal(signal.SIGINT, on_signal)
    mode = "async" if async_mode else "sync"
    click.echo(f"serving on {running.url} ({mode} delivery); Ctrl-C or SIGTERM stops", err=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        click.echo(f"stopping: draining for up to {drain_seconds:g} s", err=True)
        running.stop()
        click.echo(f"stopped; {running.stats}", err=True)
