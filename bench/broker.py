"""Benchmark of the embedded broker on loopback: events/s delivered and latency added per hop.

    python -m bench.broker [--events 4000] [--concurrency 16] [--runs 5] [--hops 10]
    python -m bench.broker --fresh-connections [--events 10000] [--concurrency 16]

Three processes share the machine: the broker (`EmbeddedBroker`, sync or async), a trivial
subscriber (raw ASGI on uvicorn, answering 202, or replying while an event still has hops to go)
and the producer (stdlib `http.client` threads on keep-alive connections, cheaper than the
broker's own client so the broker is what is measured). Every figure is the median of `--runs`.

* throughput: `--events` events from `--concurrency` connections; in sync mode the run ends when
  the last POST returns (every event delivered by then); in async mode when the subscriber has
  counted them all.
* latency: one connection, one event at a time. "added per hop" is the p50 of a POST through the
  broker minus the p50 of the same POST straight to the subscriber; "reply chain" is the p50 of a
  chain of `--hops` deliveries (each reply re-entering the broker) divided by the hops.
* `--fresh-connections`: `--events` events in sync mode, each on a new connection (as producers
  that do not keep connections alive send them), and the broker's open descriptors
  (`/proc/<pid>/fd`) before, at their peak and after: flat, since deliveries share a bounded pool.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

NAMESPACE, BROKER = "bench", "default"
HOST = "127.0.0.1"


# --- the subscriber process ---------------------------------------------------------------------


def _subscriber(conn: Connection) -> None:
    import socket

    import uvicorn

    count = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal count
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = dict(scope["headers"])
        status, out, body = 202, [], b""
        if scope["method"] == "GET":
            status, body = 200, str(count).encode()
        else:
            count += 1
            hops = int(headers.get(b"ce-hops", b"0"))
            if hops > 0:
                status, body = 200, b"{}"
                out = [
                    (b"ce-specversion", b"1.0"),
                    (b"ce-id", uuid.uuid4().hex.encode()),
                    (b"ce-source", b"/bench/subscriber"),
                    (b"ce-type", b"bench.hop"),
                    (b"ce-hops", str(hops - 1).encode()),
                    (b"content-type", b"application/json"),
                ]
        out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": body})

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # NODELAY
    sock.bind((HOST, 0))
    conn.send(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off", http="h11")
    uvicorn.Server(config).run(sockets=[sock])


# --- the broker process -------------------------------------------------------------------------


def _broker(conn: Connection, subscriber_url: str, async_mode: bool) -> None:
    from eventing.broker import EmbeddedBroker, SubscriberMap

    manifests = [
        {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Broker",
            "metadata": {"name": BROKER, "namespace": NAMESPACE},
            "spec": {"delivery": {"retry": 0}},
        },
        {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Trigger",
            "metadata": {"name": "sink", "namespace": NAMESPACE},
            "spec": {
                "broker": BROKER,
                "filters": [{"prefix": {"type": "bench."}}],
                "subscriber": {"ref": {"kind": "Service", "name": "sink"}},
            },
        },
    ]
    broker = EmbeddedBroker(
        manifests, SubscriberMap({"sink": subscriber_url}), async_mode=async_mode, workers=16
    )
    running = broker.serve()
    conn.send(running.port)
    while conn.recv() == "cpu":  # CPU seconds used so far, until told to stop
        conn.send(time.process_time())
    running.stop()


@dataclass
class Process:
    process: multiprocessing.process.BaseProcess
    port: int

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(timeout=10)


def _start(target: Callable[..., None], *args: Any) -> tuple[Process, Connection]:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=target, args=(child, *args), daemon=True)
    process.start()
    if not parent.poll(30):
        process.terminate()
        raise RuntimeError(f"{target.__name__} did not start")
    return Process(process, parent.recv()), parent


# --- the producer -------------------------------------------------------------------------------


def _headers(hops: int = 0) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": uuid.uuid4().hex,
        "ce-source": "/bench/producer",
        "ce-type": "bench.event",
        "ce-hops": str(hops),
        "content-type": "application/json",
    }


BODY = json.dumps({"namespace": "bench", "name": "exp", "iteration": 1}).encode()


def _send(conn: http.client.HTTPConnection, path: str, hops: int = 0) -> int:
    conn.request("POST", path, body=BODY, headers=_headers(hops))
    response = conn.getresponse()
    response.read()
    return response.status


def _cpu(control: Connection) -> float:
    control.send("cpu")
    return float(control.recv())


def _count(port: int) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("GET", "/")
    value = int(conn.getresponse().read())
    conn.close()
    return value


def _produce_side_by_side(produce: Callable[[int], None], events: int, concurrency: int) -> float:
    """`events` split over `concurrency` threads running `produce(share)`; when they began."""
    shares = [events // concurrency + (i < events % concurrency) for i in range(concurrency)]
    threads = [threading.Thread(target=produce, args=(share,)) for share in shares]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return began


def throughput(broker: int, subscriber: int, events: int, concurrency: int, sync: bool) -> float:
    """Events per second delivered to the subscriber."""
    path = f"/{NAMESPACE}/{BROKER}"
    start_count = _count(subscriber)
    failures: list[int] = []

    def produce(share: int) -> None:
        conn = http.client.HTTPConnection(HOST, broker, timeout=60)
        for _ in range(share):
            status = _send(conn, path)
            if status != 202:
                failures.append(status)
        conn.close()

    began = _produce_side_by_side(produce, events, concurrency)
    if not sync:
        deadline = time.monotonic() + 120
        while _count(subscriber) - start_count < events and time.monotonic() < deadline:
            time.sleep(0.01)
    elapsed = time.perf_counter() - began
    delivered = _count(subscriber) - start_count
    if failures or delivered != events:
        raise RuntimeError(f"{delivered}/{events} delivered, failures {failures[:5]}")
    return events / elapsed


def p50_latency(port: int, path: str, samples: int, hops: int = 0) -> float:
    """Median seconds for one POST (and, with hops, the whole reply chain behind it)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    for _ in range(20):  # warm up the connections on every side
        _send(conn, path, hops)
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        _send(conn, path, hops)
        times.append(time.perf_counter() - began)
    conn.close()
    return statistics.median(times)


def fresh_connections(broker: int, events: int, concurrency: int) -> float:
    """Events per second when every event comes on its own connection."""
    path = f"/{NAMESPACE}/{BROKER}"
    failures: list[int] = []

    def produce(share: int) -> None:
        for _ in range(share):
            conn = http.client.HTTPConnection(HOST, broker, timeout=60)
            status = _send(conn, path)
            conn.close()
            if status != 202:
                failures.append(status)

    began = _produce_side_by_side(produce, events, concurrency)
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)}/{events} failed, e.g. {failures[:5]}")
    return events / elapsed


def _descriptors(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


def run_fresh(events: int, concurrency: int) -> list[tuple[str, str]]:
    subscriber, _ = _start(_subscriber)
    broker, control = _start(_broker, f"http://{HOST}:{subscriber.port}", False)
    pid = broker.process.pid
    assert pid is not None
    try:
        fresh_connections(broker.port, 200, concurrency)  # warm: pools at their working size
        before = peak = _descriptors(pid)
        done = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not done.wait(0.05):
                peak = max(peak, _descriptors(pid))

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            rate = fresh_connections(broker.port, events, concurrency)
        finally:
            done.set()
            watcher.join()
        after = _descriptors(pid)
    finally:
        control.send("stop")
        broker.stop()
        subscriber.stop()
    return [
        ("fresh connections: events/s delivered", f"{rate:,.0f}"),
        ("broker descriptors before", str(before)),
        ("broker descriptors at peak", str(peak)),
        ("broker descriptors after", str(after)),
    ]


# --- the table ----------------------------------------------------------------------------------


def run(events: int, concurrency: int, runs: int, hops: int, samples: int) -> list[tuple[str, str]]:
    subscriber, _ = _start(_subscriber)
    sub_url = f"http://{HOST}:{subscriber.port}"
    results: dict[str, list[float]] = {}
    try:
        for mode in ("sync", "async"):
            broker, control = _start(_broker, sub_url, mode == "async")
            try:
                throughput(broker.port, subscriber.port, 200, concurrency, mode == "sync")  # warm
                for _ in range(runs):
                    cpu_before = _cpu(control)
                    rate = throughput(
                        broker.port, subscriber.port, events, concurrency, mode == "sync"
                    )
                    cpu = (_cpu(control) - cpu_before) / events
                    results.setdefault(f"{mode}: events/s delivered", []).append(rate)
                    results.setdefault(f"{mode}: broker CPU per event (us)", []).append(cpu)
                if mode == "sync":
                    path = f"/{NAMESPACE}/{BROKER}"
                    for _ in range(runs):
                        direct = p50_latency(subscriber.port, "/", samples)
                        via = p50_latency(broker.port, path, samples)
                        chain = p50_latency(broker.port, path, max(samples // hops, 20), hops - 1)
                        results.setdefault("p50 straight to subscriber (ms)", []).append(direct)
                        results.setdefault("p50 through the broker (ms)", []).append(via)
                        results.setdefault("p50 added per hop (ms)", []).append(via - direct)
                        results.setdefault(f"p50 per hop, {hops}-hop reply chain (ms)", []).append(
                            chain / hops
                        )
            finally:
                control.send("stop")
                broker.stop()
    finally:
        subscriber.stop()
    rows = []
    for name, values in results.items():
        median = statistics.median(values)
        if "(ms)" in name:
            shown = f"{median * 1e3:.2f}"
        elif "(us)" in name:
            shown = f"{median * 1e6:.0f}"
        else:
            shown = f"{median:,.0f}"
        rows.append((name, shown))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hops", type=int, default=10)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument(
        "--fresh-connections",
        action="store_true",
        help="one connection per event; report the broker's descriptors",
    )
    args = parser.parse_args()
    load = os.getloadavg()[0]
    if args.fresh_connections:
        rows = run_fresh(args.events, args.concurrency)
        print(
            f"embedded broker on {HOST}: {os.cpu_count()} CPUs, load {load:.2f}; "
            f"{args.events} events on fresh connections, {args.concurrency} producers"
        )
    else:
        rows = run(args.events, args.concurrency, args.runs, args.hops, args.samples)
        print(
            f"embedded broker on {HOST}: {os.cpu_count()} CPUs, load {load:.2f}; "
            f"{args.events} events x {args.runs} runs, {args.concurrency} connections (medians)"
        )
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  {'value' if args.fresh_connections else 'median':>10}")
    print(f"{'-' * width}  {'-' * 10}")
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10}")


if __name__ == "__main__":
    main()
