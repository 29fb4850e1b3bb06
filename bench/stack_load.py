"""Many experiments at once on the embedded stack, and proof that no iteration was missed or
doubled.

`EmbeddedStack` on a SqliteStore (broker, the four function processes, ApiServerSource,
PingSource ticking every second, console sinks). The bench creates one Service per experiment,
then the experiments (1-second intervals, `iterations` iterations each), and watches every status
write to the Experiments while they run. Afterwards it checks, per experiment:

* the final status: Completed, not Failed, `completedIterations` = iterations (promote counts
  the concluding one) and the last analysis for iteration `iterations` (the last iteration
  concludes: promote, not route, acts);
* `completedIterations` as written went 0, 1, 2, … one step at a time (nothing skipped);
* analyze claimed each iteration once and recorded each analysis once (nothing doubled);
* the event log (the notifier's `events.log`) holds one `weights.applied` per routed iteration
  and one terminal event.

The lag of iteration n ≥ 2 is when analyze claimed it (`status.inProgress.since`) minus when it
was due (`lastUpdateTime` of iteration n − 1 plus the interval), both as written by the
functions. With a 1-second tick the lag of a stack that keeps up is spread over one tick
(−0.1 s to about +0.9 s: a tick up to 100 ms early counts); more than one tick means a tick went
by without starting a due iteration.
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench import stack_objects as objects
from bench.stack_http import HopTimer
from eventing.sources.ping import PingSource
from iter8.embedded.stack import EmbeddedStack, StackOptions
from iter8.lifecycle.status import parse_time
from iter8.store import EXPERIMENTS, Expired
from iter8.store.sqlite import SqliteStore

INTERVAL = 1.0
EVENT_LINE = re.compile(r"^(?P<experiment>\S+): (?P<event>[a-z.]+), iteration (?P<iteration>\d+)")
TERMINAL = {
    "experiment.promoted",
    "experiment.rolledback",
    "experiment.completed",
    "experiment.failed",
}


@dataclass
class Write:
    """One status write to an Experiment, as the watch saw it."""

    name: str
    rv: int
    status: dict[str, Any]


class Recorder:
    """Watches Experiments in the store from a thread and keeps every write."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.writes: list[Write] = []
        self.completed: set[str] = set()  # experiments whose stage was last seen Completed
        self.iterations = 0  # completed iterations, summed over the experiments, as last seen
        self._last: dict[str, int] = {}
        self.error: str | None = None
        self._stopping = threading.Event()
        _, self._rv = store.list(EXPERIMENTS)
        self._thread = threading.Thread(target=self._run, name="bench-recorder", daemon=True)

    def start(self) -> Recorder:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                for event in self.store.watch(
                    EXPERIMENTS, resource_version=self._rv, timeout_seconds=1
                ):
                    meta = event.object["metadata"]
                    self._rv = str(meta["resourceVersion"])
                    status = event.object.get("status") or {}
                    self.writes.append(Write(meta["name"], int(self._rv), status))
                    self._count(meta["name"], status)
            except Expired as error:  # fell behind the store's history: the proof is incomplete
                self.error = f"the recorder fell behind: {error}"
                return

    def _count(self, name: str, status: dict[str, Any]) -> None:
        done = int(status.get("completedIterations") or 0)
        self.iterations += done - self._last.get(name, 0)
        self._last[name] = done
        if status.get("stage") == "Completed":
            self.completed.add(name)
        else:
            self.completed.discard(name)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)


@dataclass
class ExperimentCheck:
    name: str
    problems: list[str] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)  # iterations 2.. (tick-driven), seconds
    first: float | None = None  # iteration 1 (runs on `initialized`): claim − start, seconds
    started: float | None = None  # from the bench's create to init's first status write, s


@dataclass
class LoadResult:
    experiments: int
    iterations: int
    async_broker: bool
    seconds: float  # from creating the experiments until every one completed
    completed: int
    checks: list[ExperimentCheck]
    cpu: dict[str, float]  # CPU seconds per component while the experiments ran
    hops: dict[str, list[float]]  # seconds per delivery, by event (ping: a whole tick)
    ticks: dict[str, int]  # the PingSource's sent, skipped and dropped ticks
    recorder_error: str | None = None

    @property
    def problems(self) -> list[str]:
        found = [f"{c.name}: {p}" for c in self.checks for p in c.problems]
        return ([self.recorder_error] if self.recorder_error else []) + found

    @property
    def lags(self) -> list[float]:
        return [lag for c in self.checks for lag in c.lags]

    @property
    def iterations_run(self) -> int:
        return self.experiments * self.iterations


def run(
    experiments: int,
    iterations: int,
    *,
    async_broker: bool = False,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    directory: Path | None = None,
    progress: Any = None,
) -> LoadResult:
    """Run `experiments` experiments of `iterations` iterations each to the end; check them."""
    directory = directory or Path(tempfile.mkdtemp(prefix="iter8-bench-load-"))
    path = directory / "store.db"
    store = SqliteStore(path)
    objects.create_targets(store, experiments)
    options = StackOptions(
        store=f"sqlite:{path}",
        tick=timedelta(seconds=INTERVAL),
        seed=1,
        log_dir=directory / "logs",
        async_broker=async_broker,
        env=env or {},
    )
    timeout = timeout if timeout is not None else 60 + 4 * iterations * INTERVAL + experiments / 5
    recorder = Recorder(store)
    with EmbeddedStack(store, options) as stack:
        timer = HopTimer(stack)
        pings = next(source for source in stack.sources if isinstance(source, PingSource))
        pids = {f.phase: f.process.pid for f in stack.functions}
        cpu_before = {phase: _cpu(pid) for phase, pid in pids.items()} | {"bench": _own_cpu()}
        recorder.start()
        started = time.monotonic()
        created = objects.create_experiments(store, experiments, iterations)
        completed = 0
        while time.monotonic() - started < timeout and recorder.error is None:
            # From the recorder's writes: listing 200 experiments here would cost CPU the
            # stack needs.
            completed = len(recorder.completed)
            if progress is not None:
                progress(completed, recorder.iterations)
            if completed == experiments:
                break
            time.sleep(0.1)
        seconds = time.monotonic() - started
        cpu_after = {phase: _cpu(pid) for phase, pid in pids.items()} | {"bench": _own_cpu()}
        time.sleep(0.5)  # the notifier writes its log from a worker
        final, _ = store.list(EXPERIMENTS)
        ticks = {"sent": pings.sent, "skipped": pings.skipped, "dropped": pings.dropped}
        hops: dict[str, list[float]] = defaultdict(list)
        for kind, spent in timer.take()[0]:
            hops[kind].append(spent)
    recorder.stop()
    store.close()
    events = _event_log(options.log_dir / "events.log")
    by_name: dict[str, list[Write]] = defaultdict(list)
    for write in recorder.writes:
        by_name[write.name].append(write)
    finals = {item["metadata"]["name"]: item.get("status") or {} for item in final}
    checks = [
        check(name, iterations, by_name.get(name, []), finals.get(name, {}), events, at)
        for name, at in created.items()
    ]
    cpu = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
    return LoadResult(
        experiments,
        iterations,
        async_broker,
        seconds,
        completed,
        checks,
        cpu,
        dict(hops),
        ticks,
        recorder.error,
    )


def check(
    name: str,
    iterations: int,
    writes: list[Write],
    final: dict[str, Any],
    events: Counter[tuple[str, str, int]],
    created: datetime | None = None,
) -> ExperimentCheck:
    """Every invariant of one experiment, from its writes, its final status and the event log."""
    result = ExperimentCheck(name)
    problems = result.problems
    if final.get("stage") != "Completed":
        problems.append(f"stage {final.get('stage')} at the end, not Completed")
    if any(
        c.get("type") == "Failed" and c.get("status") == "True"
        for c in final.get("conditions") or []
    ):
        problems.append(f"failed: {final.get('message')}")
    # promote counts the concluding iteration too (as Iter8 v2 did); before it did not
    if final.get("completedIterations") not in (iterations, iterations - 1):
        problems.append(f"completedIterations {final.get('completedIterations')} at the end")
    if ((final.get("analysis") or {}).get("iteration")) != iterations:
        problems.append(
            f"last analysis for iteration {(final.get('analysis') or {}).get('iteration')}"
        )

    completed = _steps([w.status.get("completedIterations", 0) for w in writes])
    if completed != list(range(len(completed))):
        problems.append(f"completedIterations went {completed}")
    analysed = Counter(
        _changes([(w.status.get("analysis") or {}).get("iteration") for w in writes])
    )
    claims: dict[int, set[str]] = defaultdict(set)
    for write in writes:
        claim = write.status.get("inProgress") or {}
        if claim.get("phase") == "analyze" and claim.get("by") == "analyze":
            claims[int(claim.get("iteration", 0))].add(claim["since"])
    for n in range(1, iterations + 1):
        if analysed.get(n, 0) != 1:
            problems.append(f"iteration {n} analysed {analysed.get(n, 0)} times")
        if len(claims.get(n, ())) != 1:
            problems.append(f"iteration {n} claimed {len(claims.get(n, ()))} times")
        if n < iterations and events[(f"{objects.NAMESPACE}/{name}", "weights.applied", n)] != 1:
            count = events[(f"{objects.NAMESPACE}/{name}", "weights.applied", n)]
            problems.append(f"iteration {n}: {count} weights.applied events")
    terminal = sum(
        count for (experiment, event, _), count in events.items()
        if experiment == f"{objects.NAMESPACE}/{name}" and event in TERMINAL
    )  # fmt: skip
    if terminal != 1:
        problems.append(f"{terminal} terminal events")

    init = next((w.status["initTime"] for w in writes if w.status.get("initTime")), None)
    if created is not None and init is not None:
        result.started = (parse_time(init) - created).total_seconds()
    for write in writes:  # the claim's write still carries the previous lastUpdateTime
        claim = write.status.get("inProgress") or {}
        if not (claim.get("phase") == "analyze" and claim.get("by") == "analyze"):
            continue
        n, since = int(claim.get("iteration", 0)), parse_time(claim["since"])
        previous = parse_time(write.status["lastUpdateTime"])
        if n == 1:
            result.first = (since - previous).total_seconds()
        else:
            due = previous + timedelta(seconds=INTERVAL)
            result.lags.append((since - due).total_seconds())
    return result


def _steps(values: list[Any]) -> list[Any]:
    """Values as written, each run of repeats once."""
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def _changes(values: list[Any]) -> list[Any]:
    """The values something changed to (None excluded)."""
    return [v for v in _steps(values) if v is not None]


def _event_log(path: Path) -> Counter[tuple[str, str, int]]:
    counts: Counter[tuple[str, str, int]] = Counter()
    if not path.exists():
        return counts
    for line in path.read_text().splitlines():
        match = EVENT_LINE.match(line)
        if match:
            counts[(match["experiment"], match["event"], int(match["iteration"]))] += 1
    return counts


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1), linear between the nearest ranks; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _cpu(pid: int) -> float:
    """CPU seconds of a process and its children (gunicorn's worker is a child), from /proc."""
    total = 0.0
    for proc in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            text = (task / "children").read_text()
        except OSError:
            continue
        for child in text.split():
            found += [int(child), *_children(int(child))]
    return found
