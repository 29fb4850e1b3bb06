"""The sources and a sink wired through the embedded broker and the real Trigger manifests: an
Experiment's `add` reaches init (its Trigger filters on type and the `kind` extension), a tick
reaches analyze, and a `weights.applied` reaches the notification sink."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from cloudevents.conversion import to_binary

from eventing.broker.resolve import SubscriberMap
from eventing.broker.server import CONFIG_DIR, DEFAULT_MANIFESTS, EmbeddedBroker
from eventing.sinks.app import serve_sink
from eventing.sinks.console import ConsoleNotifier
from eventing.sources.apiserver import ApiServerSource
from eventing.sources.ping import PingSource
from iter8.events import EventType, ExperimentRef, experiment_event
from iter8.store import EXPERIMENTS
from iter8.store.sqlite import SqliteStore
from tests.eventing.test_sources_capture import Capture
from tests.store.objects import experiment


def test_sources_and_a_sink_through_the_broker(tmp_path: Path) -> None:
    stream = io.StringIO()
    store = SqliteStore(tmp_path / "store.db")
    with Capture() as init, Capture() as others, serve_sink(ConsoleNotifier(stream)) as sink:
        names = ("iter8-analyze", "iter8-route", "iter8-promote", "iter8-deadletter")
        urls = {
            **dict.fromkeys(names, others.url),
            "iter8-init": init.url,
            "iter8-notifier": sink.url,
        }
        manifests = [*DEFAULT_MANIFESTS, CONFIG_DIR / "notifications.yaml"]
        broker = EmbeddedBroker.from_files(manifests, SubscriberMap(urls))
        with broker.serve() as running:
            ingress = running.brokers[0]
            with (
                ApiServerSource(store, ingress, mode="Resource"),
                PingSource(ingress, schedule="@every 100ms"),
            ):
                store.create(EXPERIMENTS, experiment("default", "through"))
                [added] = init.wait_for(1)
                [tick] = others.wait_for(1, where=lambda r: "ce-type" in r.headers)
            applied = experiment_event(
                EventType.WEIGHTS_APPLIED,
                "route",
                ExperimentRef(namespace="default", name="through"),
                1,
                weights=[{"name": "v1", "value": 50}, {"name": "v2", "value": 50}],
            )
            headers, body = to_binary(applied)
            assert httpx.post(ingress, headers=headers, content=body).status_code == 202
            assert sink.flush()
    store.close()
    assert added.headers["ce-type"] == "dev.knative.apiserver.resource.add"
    assert added.event().data["metadata"]["name"] == "through"
    assert tick.headers["ce-type"] == "dev.knative.sources.ping"
    assert (
        stream.getvalue()
        == "default/through: weights.applied, iteration 1 — weights v1=50, v2=50\n"
    )
