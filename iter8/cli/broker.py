"""`iter8 broker`: the embedded Knative-style broker on 127.0.0.1, serving the same Broker and
Trigger manifests a cluster applies."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import click

from eventing.broker import DEFAULT_MANIFESTS, ConfigError, EmbeddedBroker, SubscriberMap

INVALID = 2


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
    "iter8-init=http://127.0.0.1:8081 (repeatable; NAME or NAMESPACE/NAME).",
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
def broker(
    port: int,
    manifests: tuple[str, ...],
    subscribers: tuple[str, ...],
    async_mode: bool,
    workers: int,
) -> None:
    """Serve Knative Brokers and Triggers from manifests until interrupted."""
    try:
        resolver = SubscriberMap.parse(subscribers)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--subscriber") from error
    try:
        embedded = EmbeddedBroker.from_files(
            manifests or DEFAULT_MANIFESTS, resolver, async_mode=async_mode, workers=workers
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
    mode = "async" if async_mode else "sync"
    click.echo(f"serving on {running.url} ({mode} delivery); Ctrl-C stops", err=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        running.stop()
        click.echo(f"stopped; {running.stats}", err=True)
