"""Write contention on the embedded store: processes × threads patching their own objects.

    python -m bench.stack_sqlite [--processes 4] [--threads 8] [--writes 40]

What the embedded stack does under load (four function processes with gunicorn threads, each
write one `BEGIN IMMEDIATE` transaction), without HTTP: writes per second and the latency of one
write (p50, p99, max).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
from multiprocessing.queues import Queue
from pathlib import Path

from bench.stack_load import percentile
from bench.stack_objects import NAMESPACE
from iter8.demo.experiment import knative_service
from iter8.store.resources import KNATIVE_SERVICES
from iter8.store.sqlite import SqliteStore


def _writer(path: str, process: int, threads: int, writes: int, out: Queue[list[float]]) -> None:
    store = SqliteStore(path)
    latencies: list[float] = []
    lock = threading.Lock()

    def run(thread: int) -> None:
        name, mine = f"app-{process}-{thread}", []
        for i in range(writes):
            started = time.perf_counter()
            patch = {"spec": {"traffic": [{"percent": i}]}}
            store.patch(KNATIVE_SERVICES, NAMESPACE, name, patch)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put(latencies)


def measure(processes: int, threads: int, writes: int) -> dict[str, float]:
    """Writes per second and latency percentiles (ms) of `processes × threads` writers."""
    path = str(Path(tempfile.mkdtemp(prefix="iter8-bench-sqlite-")) / "store.db")
    store = SqliteStore(path)
    for p in range(processes):
        for t in range(threads):
            store.create(KNATIVE_SERVICES, knative_service(f"app-{p}-{t}", NAMESPACE))
    store.close()
    out: Queue[list[float]] = multiprocessing.Queue()
    started = time.perf_counter()
    workers = [
        multiprocessing.Process(target=_writer, args=(path, p, threads, writes, out))
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    latencies = [x for _ in workers for x in out.get()]
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    return {
        "writes": len(latencies),
        "writes_per_second": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stack_sqlite")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--writes", type=int, default=40, help="per thread")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.runs):
        r = measure(args.processes, args.threads, args.writes)
        print(
            f"{r['writes']:.0f} writes: {r['writes_per_second']:.0f}/s; latency p50 "
            f"{r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.0f} ms"
        )


if __name__ == "__main__":
    main()
