"""What a change to a function's HTTP path saves per event, two builds measured in one run.

    python -m bench.http_ab --before DIR [--events 200] [--algorithm iter8-v2 ...]

DIR is a source tree of the build to compare with (`git archive main | tar -x -C DIR`), put
first on the PYTHONPATH of its server; the other server runs this tree. Both are `iter8 serve
analyze` on one SQLite store whose experiments are due (`bench.iteration.prepare`); the warm
`iteration.due` POSTs take turns, before then after, after then before, over one kept-alive
connection to each. Per event: the wall time at this client and the CPU time of the server's
worker (all its threads, from /proc). Reported: each side's median, and the median of the
paired differences (before − after), in which the drift of a shared machine's load cancels:
`bench.iteration`'s "HTTP − in-process" moves by ±0.5 ms between runs of the same code, far
more than most changes to the path. Both servers must answer 200 with the same header names
in the same order.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.iteration import (
    COLD_ALGORITHMS,
    MS,
    _children,
    _cpu_seconds,
    _free_port,
    _wait_alive,
    compile_like_the_image,
    due_event,
    machine,
    prepare,
)

WARMUP = 4  # events per server before the timed ones


def compare(before: Path, events: int, algorithm: str) -> dict[str, Any]:
    """One store, two servers (`before`'s tree and this one), `events` POSTs to each in turn."""
    directory = Path(tempfile.mkdtemp(prefix="iter8-bench-ab-"))
    refs = prepare(directory, 2 * (events + WARMUP), algorithm)
    servers = [_start(directory, str(before)), _start(directory, None)]
    try:
        connections = [http.client.HTTPConnection("127.0.0.1", port) for _, port, _ in servers]
        sides: list[list[tuple[float, float]]] = [[], []]
        heads: list[list[str]] = [[], []]
        for k in range(events + WARMUP):
            for side in (0, 1) if k % 2 == 0 else (1, 0):
                _, _, worker = servers[side]
                took, cpu, head = _post(connections[side], worker, refs[2 * k + side])
                heads[side] = head
                if k >= WARMUP:
                    sides[side].append((took, cpu))
        if heads[0] != heads[1]:
            raise RuntimeError(f"the replies differ: {heads[0]} against {heads[1]}")
        for connection in connections:
            connection.close()
    finally:
        for process, _, _ in servers:
            process.terminate()
            process.wait(10)

    def median(side: int, what: int) -> float:
        return statistics.median(sample[what] for sample in sides[side]) * MS

    def paired(what: int) -> float:
        pairs = zip(sides[0], sides[1], strict=True)
        return statistics.median(b[what] - a[what] for b, a in pairs) * MS

    return {
        "algorithm": algorithm,
        "events": events,
        "before_ms": median(0, 0),
        "after_ms": median(1, 0),
        "saved_ms": paired(0),
        "before_cpu_ms": median(0, 1),
        "after_cpu_ms": median(1, 1),
        "saved_cpu_ms": paired(1),
        "load": os.getloadavg()[0],
    }


def _start(directory: Path, tree: str | None) -> tuple[subprocess.Popen[bytes], int, int]:
    """`iter8 serve analyze` on the store, from `tree` if given: the process, its port, its
    worker's pid."""
    port = _free_port()
    path = os.pathsep.join(p for p in (tree, os.environ.get("PYTHONPATH")) if p)
    env = {
        **os.environ,
        "ITER8_STORE": f"sqlite:{directory / 'store.db'}",
        "ITER8_SEED": "7",
        "PORT": str(port),
        "PYTHONPATH": path,
    }
    iter8 = str(Path(sys.executable).parent / "iter8")
    process = subprocess.Popen(
        [iter8, "serve", "analyze", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_alive(port, process)
    (worker,) = _children(process.pid)
    return process, port, worker


def _post(
    connection: http.client.HTTPConnection, worker: int, ref: Any
) -> tuple[float, float, list[str]]:
    headers, body = due_event(ref)
    cpu, began = _cpu_seconds(worker), time.perf_counter()
    connection.request("POST", "/", body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    took, cpu = time.perf_counter() - began, _cpu_seconds(worker) - cpu
    if response.status != 200:
        raise RuntimeError(f"iteration.due for {ref} answered {response.status}, not 200")
    return took, cpu, [name for name, _ in response.getheaders()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_ab", description=__doc__)
    parser.add_argument("--before", type=Path, required=True, help="the other build's tree")
    parser.add_argument("--events", type=int, default=200, help="timed events per server")
    parser.add_argument("--algorithm", action="append", choices=COLD_ALGORITHMS)
    args = parser.parse_args(argv)
    compile_like_the_image()
    table = Table(title="A warm iteration.due over HTTP, two builds taking turns (medians)")
    for column in ("algorithm", "events", "before ms", "after ms", "saved ms (paired)",
                   "before CPU ms", "after CPU ms", "saved CPU ms (paired)", "load"):  # fmt: skip
        table.add_column(column)
    for algorithm in args.algorithm or list(COLD_ALGORITHMS):
        r = compare(args.before.resolve(), args.events, algorithm)
        table.add_row(
            algorithm,
            str(r["events"]),
            *(f"{r[k]:.2f}" for k in ("before_ms", "after_ms", "saved_ms")),
            *(f"{r[k]:.2f}" for k in ("before_cpu_ms", "after_cpu_ms", "saved_cpu_ms")),
            f"{r['load']:.1f}",
        )
    console = Console() if sys.stdout.isatty() else Console(width=140)
    console.print(table)
    console.print(f"{machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
