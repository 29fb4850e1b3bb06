"""An analysis iteration's fixed costs: in-process, with a slow backend, from a cold start, and
over HTTP.

    python -m bench.iteration [--calls 200] [--fetch-calls 30] [--cold-runs 3] [--only PART]

(also `iter8 bench iteration …`). Four parts, each a table:

1. **iteration** — one whole iteration in-process, as the analyze function runs it: `fetch_all`
   (mock metrics: no I/O), the algorithm, and the `status.analysis` block. A Canary with 2
   versions × 4 metrics and an A/B/N with 10 versions × 10 metrics (plus its reward), from a
   status holding three earlier analyses. Median and p90 per call after a warm-up, and the
   median CPU time of a call (this thread's: what other sessions' load inflates far less).
2. **fetch** — `fetch_all` against a local mock Prometheus on 127.0.0.1 that answers every query
   after 20 ms (`bench/slow_prometheus.py`, in a process of its own as a Prometheus is: in this
   one, its request handling took the GIL from the fetches it answered), 4 fetches (2 versions
   × 2 metrics) and 9 (3 × 3). Fetches that overlap take a little over 20 ms; one after the
   other, 80 and 180 ms. Also the CPU time of a call, this process's (all its threads).
3. **cold** — `iter8 serve analyze` spawned on a SQLite store holding experiments whose second
   iteration is due, for each algorithm (`--algorithm`, default bayesian and iter8-v2, taking
   turns start by start), our modules compiled to bytecode first as in the container image
   (`--from-source`: not): spawn → its liveness probe answers, the first `iteration.due` (its latency,
   and spawn → its 200), then warm ones (median); first ÷ warm. Also in CPU time (the server's
   threads, from /proc: what other sessions' load inflates far less than wall time): the
   startup's (arbiter and worker, spawn → alive) and each event's in the worker.
4. **http** — in the same runs, the warm `iteration.due` over HTTP against the same event handled
   in this process (`handle`, same store file): the difference is what HTTP, functions-framework
   and the CloudEvents codec add; in wall time, and in CPU time (the worker's threads, all of
   them, against this thread's), which other sessions' load inflates far less.

With parts 3 and 4, start by start, two floors: functions-framework alone serving a function
that only reads the event and answers one (`bench/bare_function.py`), and the same with the
libraries analyze cannot do without, loaded as analyze loads them and touched once per event
(`bench/library_function.py`: numpy, scipy.special, pydantic, httpx), each started as
functions-framework's own command starts a function, on the same events. Our figures beside
them, as ratios and differences taken start by start, are what this machine's speed and load
do not decide.

The machine is shared: quote medians over several runs, and compare builds in interleaved runs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

NS = "bench"
MS = 1000.0
PARTS = ("iteration", "fetch", "cold", "http")
PROMETHEUS_DELAY = 0.020  # seconds the mock Prometheus waits before each answer
COLD_ALGORITHMS = ("bayesian", "iter8-v2")  # bayesian: the default, what most experiments use
BARE = "functions-framework alone"  # bench/bare_function.py: the floor, in the same run
LIBRARIES = "+ numpy, scipy, pydantic, httpx"  # bench/library_function.py: the libraries' floor
FLOORS = {BARE: "bare_function", LIBRARIES: "library_function"}  # name: module of bench


# ---- 1. one iteration in-process ----------------------------------------------------------


def _mock_metric(name: str, kind: str, levels: dict[str, float]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "Counter" if kind == "counter" else "Gauge",
        "mock": [{"name": v, "level": str(level)} for v, level in levels.items()],
    }
    if kind == "rate":
        spec["sampleSize"] = f"{NS}/request-count"
    return {"metadata": {"name": name, "namespace": NS}, "spec": spec}


def shapes() -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """`{shape: (experiment manifest, metric manifests)}`, every metric a `mock` one."""
    result = {}
    for label, count, pattern, names in (
        ("Canary 2 × 4", 2, "Canary", ["error-rate", "mean-latency", "latency-95th-percentile"]),
        (
            "A/B/N 10 × 10",
            10,
            "A/B/N",
            ["error-rate", "timeout-rate", "mean-latency"]
            + [f"latency-{p}th-percentile" for p in (50, 75, 90, 95, 99)],
        ),
    ):
        versions = [f"v{i + 1}" for i in range(count)]
        metrics = [_mock_metric("request-count", "counter", dict.fromkeys(versions, 100.0))]
        for name in names:
            kind = "rate" if name.endswith("-rate") else "gauge"
            base = 0.005 if kind == "rate" else 120.0
            levels = {v: base * (1 - 0.02 * i) for i, v in enumerate(versions)}
            metrics.append(_mock_metric(name, kind, levels))
        limits = {"error-rate": 0.01, "mean-latency": 150, "latency-95th-percentile": 250}
        criteria: dict[str, Any] = {
            "requestCount": f"{NS}/request-count",
            "objectives": [
                {"metric": f"{NS}/{m}", "upperLimit": str(v)} for m, v in limits.items()
            ],
            "indicators": [f"{NS}/{n}" for n in names if n not in limits],
        }
        if pattern != "Canary":
            reward = {v: 0.10 + 0.005 * i for i, v in enumerate(versions)}
            metrics.append(_mock_metric("conversion-rate", "rate", reward))
            criteria["rewards"] = [
                {"metric": f"{NS}/conversion-rate", "preferredDirection": "High"}
            ]
        manifest = {
            "metadata": {"name": "iteration", "namespace": NS},
            "spec": {
                "target": f"{NS}/app",
                "strategy": {"testingPattern": pattern},
                "criteria": criteria,
                "duration": {"intervalSeconds": 10, "iterationsPerLoop": 20},
                "versionInfo": {
                    "baseline": {"name": versions[0]},
                    "candidates": [{"name": v} for v in versions[1:]],
                },
            },
        }
        result[label] = (manifest, metrics)
    return result


def iteration_costs(calls: int) -> list[dict[str, Any]]:
    """Per algorithm × shape: the median and p90 of one whole iteration, in ms."""
    from iter8.analytics.registry import get_algorithm
    from iter8.api.defaults import with_defaults
    from iter8.api.experiment import Analysis, Experiment, ExperimentStatus, VersionWeight
    from iter8.api.metric import Metric

    rows = []
    for algorithm_name in ("iter8-v2", "bayesian"):
        algorithm = get_algorithm(algorithm_name)
        for label, (manifest, metric_manifests) in shapes().items():
            base = with_defaults(Experiment.from_wire(manifest))
            metrics = {
                f"{NS}/{m['metadata']['name']}": Metric.from_wire(m) for m in metric_manifests
            }

            def one(e: Experiment, i: int, a: Any = algorithm, m: Any = metrics) -> Any:
                return _whole_iteration(a, m, e, i)

            experiment = base
            for iteration in range(1, 4):  # a status as mid-experiment
                result = one(experiment, iteration)
                status = ExperimentStatus(
                    completed_iterations=iteration,
                    current_weight_distribution=[
                        VersionWeight(name=w.name, value=w.value) for w in result.weights
                    ]
                    or None,
                    analysis=Analysis(details=result.details),
                )
                experiment = base.model_copy(update={"status": status})
            wall, cpu = clocked(lambda e=experiment: one(e, 4), calls)
            rows.append(
                {
                    "algorithm": algorithm_name,
                    "shape": label,
                    **stats(wall),
                    "cpu_median_ms": statistics.median(cpu) * MS,
                }
            )
    return rows


def _whole_iteration(
    algorithm: Any, metrics: dict[str, Any], experiment: Any, iteration: int
) -> Any:
    """What analyze does per iteration, less the store: fetch, analyse, the status block."""
    from iter8.analytics.algorithm import AnalysisInput
    from iter8.analytics.assessment import status_analysis
    from iter8.metrics.registry import fetch_all

    observations = fetch_all(
        metrics.values(), experiment.versions, elapsed_seconds=10 * iteration, seed=iteration
    )
    result = algorithm.analyze(AnalysisInput(experiment, metrics, observations, 7))
    status_analysis(result, provenance="iter8/analyze", timestamp="2026-01-01T00:00:00Z")
    return result


# ---- 2. fetches against a slow backend ------------------------------------------------------


def fetch_costs(calls: int) -> list[dict[str, Any]]:
    from bench.slow_prometheus import spawned
    from iter8.api.experiment import VersionDetail
    from iter8.api.metric import Metric
    from iter8.metrics.registry import fetch_all

    rows = []
    with spawned(PROMETHEUS_DELAY) as url:
        for versions, metric_count in ((2, 2), (3, 3)):
            metrics = [
                Metric.from_wire(
                    {
                        "metadata": {"name": f"m{i}", "namespace": NS},
                        "spec": {
                            "provider": "prometheus",
                            "urlTemplate": url,
                            "params": [{"name": "query", "value": f"m{i}{{v='$name'}}"}],
                            "jqExpression": ".data.result[0].value[1] | tonumber",
                        },
                    }
                )
                for i in range(metric_count)
            ]
            names = [VersionDetail(name=f"v{i + 1}") for i in range(versions)]

            def one(m: list[Any] = metrics, v: list[Any] = names) -> None:
                observations = fetch_all(m, v, elapsed_seconds=60)
                failed = [o for by in observations.values() for o in by.values() if o.value is None]
                if failed:
                    raise RuntimeError(f"a fetch failed: {failed[0].message}")

            fetches = versions * metric_count
            wall, cpu = clocked(one, calls, warmup=3, clock=time.process_time)
            rows.append(
                {
                    "fetches": fetches,
                    "sequential_ms": fetches * PROMETHEUS_DELAY * MS,
                    **stats(wall),
                    # this process's, all threads: the fetches' own (the backend is another's)
                    "cpu_median_ms": statistics.median(cpu) * MS,
                }
            )
    return rows


# ---- 3 and 4. cold start, and HTTP against in-process ---------------------------------------


def prepare(directory: Path, count: int, algorithm: str) -> list[Any]:
    """A store with `count` experiments, each initialised and one iteration done 30 s ago, so
    that their second iteration is due now. Their refs."""
    from bench import stack_objects as objects
    from bench.stack_inprocess import CapturingSink, add_event
    from functions.analyze import main as analyze
    from functions.init import main as init
    from functions.route import main as route
    from functions.runtime import Runtime
    from iter8.events import ExperimentRef
    from iter8.store.sqlite import SqliteStore

    store = SqliteStore(directory / "store.db")
    sink = CapturingSink()
    past = datetime.now(UTC) - timedelta(seconds=30)
    runtime = Runtime(store=store, sink=sink.url, now=lambda: past, seed=7)
    refs = []
    try:
        objects.create_targets(store, count)
        objects.create_experiments(store, count, 10, algorithm)
        for name in objects.names(count):
            first = init.handle(add_event(name), runtime)
            assert first is not None
            reply = analyze.handle(first, runtime)
            assert reply is not None
            route.handle(reply, runtime)
            data = first.data
            refs.append(ExperimentRef(namespace=data["namespace"], name=name, uid=data["uid"]))
    finally:
        sink.close()
        store.close()
    return refs


def due_event(ref: Any) -> tuple[dict[str, str], bytes]:
    from cloudevents.conversion import to_binary

    from iter8.events import EventType, experiment_event

    headers, body = to_binary(experiment_event(EventType.ITERATION_DUE, "bench", ref, 2))
    return {k: str(v) for k, v in headers.items()}, body


def compile_like_the_image() -> None:
    """Bytecode for `iter8` and `functions`, where they are imported from, as the container
    image has it (pip compiles what it installs, whatever PYTHONDONTWRITEBYTECODE says): a
    checkout run with PYTHONDONTWRITEBYTECODE=1 compiles ~130 of our modules from source at
    every start (~0.1-0.15 s of CPU), which no cold start on Knative pays."""
    import compileall

    import functions
    import iter8

    for package in (iter8, functions):
        compileall.compile_dir(Path(package.__file__).parent, quiet=1)


def cold_and_http(
    runs: int, per_run: int, algorithms: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Per algorithm, per run: the cold-start figures and the warm HTTP and in-process
    latencies. The algorithms take turns, run by run, so that the machine's load falls on each
    alike."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in [*algorithms, *FLOORS]}
    for _ in range(runs):
        for algorithm in algorithms:
            results[algorithm].append(one_start(per_run, algorithm))
        for floor, module in FLOORS.items():
            results[floor].append(bare_start(per_run, module))
    return results


def one_start(per_run: int, algorithm: str) -> dict[str, Any]:
    """One server started on a store of `algorithm` experiments: its cold start, its first
    event, `per_run` warm ones, and as many handled in this process."""
    from cloudevents.http import from_http

    from functions.analyze import main as analyze
    from functions.runtime import Runtime
    from iter8.store.sqlite import SqliteStore

    directory = Path(tempfile.mkdtemp(prefix="iter8-bench-cold-"))
    refs = prepare(directory, 2 * per_run + 1, algorithm)
    over_http, in_process = refs[1 : per_run + 1], refs[per_run + 1 :]
    port = _free_port()
    env = {
        **os.environ,
        "ITER8_STORE": f"sqlite:{directory / 'store.db'}",
        "ITER8_SEED": "7",
        "PORT": str(port),
    }
    iter8 = str(Path(sys.executable).parent / "iter8")
    spawned = time.perf_counter()
    process = subprocess.Popen(
        [iter8, "serve", "analyze", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = _wait_alive(port, process) - spawned
        (worker,) = _children(process.pid)
        startup_cpu = _process_cpu_seconds(process.pid) + _process_cpu_seconds(worker)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        before = _cpu_seconds(worker)
        first = _post(connection, refs[0])
        first_200 = time.perf_counter() - spawned
        first_cpu = _cpu_seconds(worker) - before
        store = SqliteStore(directory / "store.db")
        runtime = Runtime(store=store, seed=7)

        def handled_here(ref: Any) -> Callable[[], object]:
            event = from_http(*due_event(ref))

            def call() -> None:
                if analyze.handle(event, runtime) is None:
                    raise RuntimeError(f"in-process analyze did not reply for {ref}")

            return call

        warm = _warm_and_local(connection, worker, over_http, [handled_here(r) for r in in_process])
        store.close()
        connection.close()
    finally:
        process.terminate()
        process.wait(10)
    return {
        "ready_s": ready,
        "first_200_s": first_200,
        "first_ms": first * MS,
        # CPU, which other sessions' load does not inflate as it does wall time
        "startup_cpu_s": startup_cpu,
        "first_cpu_ms": first_cpu * MS,
        **warm,
    }


def bare_start(per_run: int, module: str) -> dict[str, Any]:
    """`bench/<module>.py` (`bare_function`, `library_function`) started as functions-framework's
    own command starts a function, the same figures as `one_start` (alive = its first 200), on
    the same `iteration.due` events: the floor of any function served this way on this machine
    (with those libraries), in the same run."""
    import importlib

    function = importlib.import_module(f"bench.{module}")
    refs = [_fake_ref(i) for i in range(per_run + 1)]
    port = _free_port()
    command = [sys.executable, "-m", "functions_framework", "--target", "reply",
               "--source", function.__file__, "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    spawned = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = _first_answer(port, process, refs[0])
        first_200 = time.perf_counter() - spawned
        (worker,) = _children(process.pid)
        startup_cpu = _process_cpu_seconds(process.pid) + _process_cpu_seconds(worker)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        calls = [partial(function.answer, *due_event(ref)) for ref in refs[1:]]
        warm = _warm_and_local(connection, worker, refs[1:], calls)
        connection.close()
    finally:
        process.terminate()
        process.wait(10)
    return {
        "first_200_s": first_200,
        "first_ms": first * MS,
        "startup_cpu_s": startup_cpu,  # to the first 200, first event included
        **warm,
    }


def _warm_and_local(
    connection: http.client.HTTPConnection,
    worker: int,
    remote: list[Any],
    local: list[Callable[[], object]],
) -> dict[str, float]:
    """Each ref's event over HTTP, then one call in this process, by turns: the medians of
    each, in wall time and in CPU time (the worker's threads; this thread's)."""
    warm, warm_cpu, here, here_cpu = [], [], [], []
    for ref, call in zip(remote, local, strict=True):
        before = _cpu_seconds(worker)
        warm.append(_post(connection, ref))
        warm_cpu.append(_cpu_seconds(worker) - before)
        began, began_cpu = time.perf_counter(), time.thread_time()
        call()
        here_cpu.append(time.thread_time() - began_cpu)
        here.append(time.perf_counter() - began)
    return {
        "warm_ms": statistics.median(warm) * MS,
        "warm_cpu_ms": statistics.median(warm_cpu) * MS,
        # the first in-process calls pay this process's own imports
        "in_process_ms": statistics.median(here[2:] or here) * MS,
        "in_process_cpu_ms": statistics.median(here_cpu[2:] or here_cpu) * MS,
    }


def _fake_ref(index: int) -> Any:
    from iter8.events import ExperimentRef

    return ExperimentRef(
        namespace=NS, name=f"bare-{index}", uid=f"00000000-0000-0000-0000-{index:012d}"
    )


def _first_answer(port: int, process: subprocess.Popen[bytes], ref: Any) -> float:
    """The latency of the first POST of `ref`'s event that the server answers."""

    def posted() -> float:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            return _post(connection, ref)
        finally:
            connection.close()

    return _poll(process, "functions-framework", posted)


def _process_cpu_seconds(pid: int) -> float:
    """CPU time of process `pid` so far, threads that ended included (in clock ticks: fine for a
    startup's ~0.5 s; `_cpu_seconds` misses the threads that ended)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """CPU time of every thread of `pid` so far (the scheduler's nanoseconds, not clock ticks:
    one event is a few ms)."""
    tasks = Path(f"/proc/{pid}/task")
    return sum(int((t / "schedstat").read_text().split()[0]) for t in tasks.iterdir()) / 1e9


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_alive(port: int, process: subprocess.Popen[bytes]) -> float:
    def healthy() -> float | None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            return time.perf_counter() if connection.getresponse().status == 200 else None
        finally:
            connection.close()

    return _poll(process, "iter8 serve analyze", healthy)


def _poll(
    process: subprocess.Popen[bytes], what: str, attempt: Callable[[], float | None]
) -> float:
    """`attempt()` again and again from the spawn on until it answers (a refused connection:
    not listening yet), for a minute at most."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            answer = attempt()
        except OSError:
            answer = None
        if answer is not None:
            return answer
        time.sleep(0.005)
    raise TimeoutError(f"{what} did not answer")


def _post(connection: http.client.HTTPConnection, ref: Any) -> float:
    headers, body = due_event(ref)
    began = time.perf_counter()
    connection.request("POST", "/", body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    spent = time.perf_counter() - began
    if response.status != 200:
        raise RuntimeError(f"iteration.due for {ref} answered {response.status}, not 200")
    return spent


# ---- shared -----------------------------------------------------------------------------


def timed(call: Callable[[], object], calls: int, warmup: int = 10) -> list[float]:
    return clocked(call, calls, warmup)[0]


def clocked(
    call: Callable[[], object],
    calls: int,
    warmup: int = 10,
    clock: Callable[[], float] = time.thread_time,
) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each call (CPU: this thread's unless `clock` says otherwise,
    which other sessions' load inflates far less than wall time)."""
    for _ in range(warmup):
        call()
    wall, cpu = [], []
    for _ in range(calls):
        began, began_cpu = time.perf_counter(), clock()
        call()
        cpu.append(clock() - began_cpu)
        wall.append(time.perf_counter() - began)
    return wall, cpu


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": statistics.median(ordered) * MS,
        "p90_ms": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * MS,
    }


def machine() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "load": os.getloadavg()[0],
    }


def cold_table(algorithm: str, runs: list[dict[str, Any]]) -> Table:
    table = Table(title=f"iter8 serve analyze ({algorithm}), one row per start")
    for column in ("spawn → alive s", "spawn → first 200 s", "startup CPU s", "first ms",
                   "warm ms", "first ÷ warm", "first ÷ warm, CPU", "in-process ms",
                   "HTTP − in-process ms", "HTTP − in-process, CPU ms"):  # fmt: skip
        table.add_column(column)
    for r in [*map(_paired, runs), _medians(runs)]:
        table.add_row(
            f"{r['ready_s']:.3f}",
            f"{r['first_200_s']:.3f}",
            f"{r['startup_cpu_s']:.3f}",
            f"{r['first_ms']:.1f}",
            f"{r['warm_ms']:.1f}",
            f"{r['first_over_warm']:.2f}",
            f"{r['first_over_warm_cpu']:.2f}",
            f"{r['in_process_ms']:.1f}",
            f"{r['http_extra_ms']:.1f}",
            f"{r['http_extra_cpu_ms']:.1f}",
        )
    return table


def bare_table(floor: str, runs: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{floor} (bench/{FLOORS[floor]}.py), one row per start")
    for column in ("spawn → first 200 s", "CPU to the first 200 s", "first ms", "warm ms",
                   "in-process ms", "HTTP − in-process ms", "HTTP − in-process, CPU ms"):  # fmt: skip
        table.add_column(column)
    for r in [*map(_paired, runs), _medians(runs)]:
        table.add_row(
            f"{r['first_200_s']:.3f}",
            f"{r['startup_cpu_s']:.3f}",
            f"{r['first_ms']:.1f}",
            f"{r['warm_ms']:.2f}",
            f"{r['in_process_ms']:.2f}",
            f"{r['http_extra_ms']:.2f}",
            f"{r['http_extra_cpu_ms']:.2f}",
        )
    return table


def floor_table(cold: dict[str, list[dict[str, Any]]], algorithms: list[str]) -> Table:
    """Each algorithm's figures beside the floors', measured start by start in the same run:
    what a machine's speed and load do to both cancels in the ratio. Ratios and differences
    are taken start by start (each of ours against the floor's started next to it), then
    their median."""
    table = Table(title="iter8 serve analyze against the floors, medians over the starts")
    for column in ("", "spawn → first 200 s", f"÷ {BARE}", f"÷ {LIBRARIES}",
                   "HTTP − in-process ms", f"− {BARE}'s, ms"):  # fmt: skip
        table.add_column(column)
    bare, libraries = cold[BARE], cold[LIBRARIES]
    for name in [*FLOORS, *algorithms]:
        runs = [_paired(r) for r in cold[name]]
        table.add_row(
            name,
            f"{statistics.median(r['first_200_s'] for r in runs):.3f}",
            f"{_paired_median(cold[name], bare, lambda a, b: a['first_200_s'] / b['first_200_s']):.2f}",
            f"{_paired_median(cold[name], libraries, lambda a, b: a['first_200_s'] / b['first_200_s']):.2f}",
            f"{statistics.median(r['http_extra_ms'] for r in runs):.2f}",
            f"{_paired_median(cold[name], bare, lambda a, b: _paired(a)['http_extra_ms'] - _paired(b)['http_extra_ms']):+.2f}",
        )  # fmt: skip
    return table


def _paired(run: dict[str, Any]) -> dict[str, Any]:
    """A start's figures with those derived from two of them measured side by side (the first
    event against the warm ones, HTTP against in-process): taken within the start, so that the
    load of the moment falls on both."""
    derived = {
        "http_extra_ms": run["warm_ms"] - run["in_process_ms"],
        "http_extra_cpu_ms": run["warm_cpu_ms"] - run["in_process_cpu_ms"],
    }
    if "first_cpu_ms" in run:
        derived["first_over_warm"] = run["first_ms"] / run["warm_ms"]
        derived["first_over_warm_cpu"] = run["first_cpu_ms"] / run["warm_cpu_ms"]
    return {**run, **derived}


def _medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """The median of each figure over the starts, derived ones included (each the median of
    the starts' own, not a ratio or difference of medians)."""
    paired = [_paired(run) for run in runs]
    return {key: statistics.median(run[key] for run in paired) for key in paired[0]}


def _paired_median(
    ours: list[dict[str, Any]],
    floor: list[dict[str, Any]],
    figure: Callable[[dict[str, Any], dict[str, Any]], float],
) -> float:
    return statistics.median(figure(a, b) for a, b in zip(ours, floor, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.iteration", description=__doc__)
    parser.add_argument("--calls", type=int, default=200, help="iteration: timed calls")
    parser.add_argument("--fetch-calls", type=int, default=30, help="fetch: timed calls")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold/http: server starts")
    parser.add_argument("--per-run", type=int, default=12, help="http: warm events per run")
    parser.add_argument(
        "--algorithm",
        action="append",
        choices=COLD_ALGORITHMS,
        help="cold/http: the experiments' (repeat for several; default: both)",
    )
    parser.add_argument(
        "--from-source",
        action="store_true",
        help="cold: do not compile iter8 and functions to bytecode first (the image has it)",
    )
    parser.add_argument("--only", choices=PARTS, action="append", help="only these parts")
    parser.add_argument("--output", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args(argv)
    parts = args.only or list(PARTS)
    console = Console() if sys.stdout.isatty() else Console(width=140)
    figures: dict[str, Any] = {"machine": machine()}
    if "iteration" in parts:
        figures["iteration"] = iteration_costs(args.calls)
        table = Table(title=f"One whole iteration in-process, mock metrics ({args.calls} calls)")
        for column in ("algorithm", "shape", "median ms", "p90 ms", "CPU median ms"):
            table.add_column(column)
        for row in figures["iteration"]:
            table.add_row(
                row["algorithm"],
                row["shape"],
                f"{row['median_ms']:.2f}",
                f"{row['p90_ms']:.2f}",
                f"{row['cpu_median_ms']:.2f}",
            )
        console.print(table)
    if "fetch" in parts:
        figures["fetch"] = fetch_costs(args.fetch_calls)
        table = Table(title=f"fetch_all, backend answering in {PROMETHEUS_DELAY * MS:.0f} ms")
        for column in (
            "fetches",
            "median ms",
            "p90 ms",
            "CPU median ms",
            "one after the other, ms",
        ):
            table.add_column(column)
        for row in figures["fetch"]:
            table.add_row(
                str(row["fetches"]),
                f"{row['median_ms']:.1f}",
                f"{row['p90_ms']:.1f}",
                f"{row['cpu_median_ms']:.1f}",
                f"{row['sequential_ms']:.0f}",
            )
        console.print(table)
    if "cold" in parts or "http" in parts:
        algorithms = args.algorithm or list(COLD_ALGORITHMS)
        if not args.from_source:
            compile_like_the_image()
        figures["cold"] = cold_and_http(args.cold_runs, args.per_run, algorithms)
        for algorithm in algorithms:
            console.print(cold_table(algorithm, figures["cold"][algorithm]))
        for floor in FLOORS:
            console.print(bare_table(floor, figures["cold"][floor]))
        console.print("last row: the median of each column over the starts")
        console.print(floor_table(figures["cold"], algorithms))
    console.print(f"{figures['machine']}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
