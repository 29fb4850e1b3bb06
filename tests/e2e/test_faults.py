"""At-least-once delivery end to end (DESIGN principle 4): every event delivered twice, old and
early events sent again mid-run, and function processes killed between a status write and the
reply. Each time the experiment must end as it would have anyway, with each iteration analysed
once and applied once.

The experiment is an `iter8-v2` canary on mocked metrics, because that algorithm makes the
history checkable: the candidate wins every iteration, so iteration n leaves exactly `n × 10`%
on it, and an iteration analysed or applied twice would show as a different split. The history
itself is the store's: every write to the experiment and to the routed Knative Service,
replayed by its watch.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from eventing.broker.server import CONFIG_DIR
from iter8.events import EventType, ExperimentRef, experiment_event
from iter8.lifecycle.status import is_true
from iter8.store import EXPERIMENTS
from iter8.store.resources import KNATIVE_SERVICES
from tests.e2e.builders import (
    experiment,
    knative_ref,
    knative_service,
    mock_metric,
    version,
)
from tests.e2e.cases import split_of
from tests.e2e.harness import Harness, running
from tests.functions import proctree
from tests.functions.harness import add_event

CRASH_HOOK = Path(__file__).parent / "crashhook"


def canary(name: str, iterations: int, namespace: str = "default") -> list[dict[str, Any]]:
    """Knative Service at 100/0, a candidate that meets `latency ≤ 200` (mocked 50; a mocked
    Gauge is never above twice its level), 1-second iterations, the iter8-v2 algorithm."""
    ns = namespace
    objective = {"metric": f"{ns}/{name}-latency", "upperLimit": 200}
    return [
        knative_service(name, [100, 0], ns),
        mock_metric(f"{name}-latency", {"v1": 100, "v2": 50}, namespace=ns),
        experiment(
            name,
            "Canary",
            [version("v1", knative_ref(name, 0, ns)), version("v2", knative_ref(name, 1, ns))],
            criteria={"objectives": [objective]},
            algorithm="iter8-v2",
            iterations=iterations,
            namespace=ns,
        ),
    ]


def check_ended_once(
    harness: Harness,
    ref: ExperimentRef,
    since: str,
    iterations: int,
    lost: Collection[int] = (),
    namespace: str = "default",
) -> None:
    """Promoted, with each iteration analysed once, completed once and applied once.

    `lost`: iterations whose `weights.applied` reply was lost on purpose (a killed route)."""
    final = harness.wait(ref, timeout=90)
    status = final.status
    assert status is not None and status.stage == "Completed", status
    assert is_true(status, "Completed") and not is_true(status, "Failed"), status.message
    assert status.analysis is not None and status.analysis.decision is not None
    assert status.analysis.decision["action"] == "promote"
    assert status.analysis.decision["version"] == "v2"
    assert status.completed_iterations == iterations  # the last one concluded, and counts
    assert status.analysis.iteration == iterations

    # the experiment's own history: completedIterations moves up one at a time, and each
    # iteration's analysis was written once (one timestamp per iteration)
    statuses = [
        o.get("status") or {} for o in harness.history(EXPERIMENTS, namespace, ref.name, since)
    ]
    completed = [s.get("completedIterations", 0) for s in statuses]
    assert all(b - a in (0, 1) for a, b in itertools.pairwise(completed)), completed
    analysed: dict[int, set[str]] = {}
    for s in statuses:
        analysis = s.get("analysis") or {}
        if analysis.get("iteration"):
            stamp = analysis["aggregatedMetrics"]["timestamp"]
            analysed.setdefault(analysis["iteration"], set()).add(stamp)
    assert sorted(analysed) == list(range(1, iterations + 1))
    assert all(len(stamps) == 1 for stamps in analysed.values()), analysed

    # the routed object's history: one write per iteration, 10 points each, then 0/100
    writes = [split_of(o) for o in harness.history(KNATIVE_SERVICES, namespace, ref.name, since)]
    expected = [{"v1": 100 - 10 * n, "v2": 10 * n} for n in range(iterations)]
    assert writes == [*expected, {"v1": 0, "v2": 100}]

    # what the sinks got: one split per completed iteration (but the lost ones), one promotion
    events = harness.wait_for_event(ref, "experiment.promoted")
    applied = [(e.iteration, e.weights) for e in events if e.event == "weights.applied"]
    assert applied == [
        (n, {"v1": 100 - 10 * n, "v2": 10 * n}) for n in range(1, iterations) if n not in lost
    ]
    assert [e.event for e in events if e.event.startswith("experiment.")] == ["experiment.promoted"]


def doubled_triggers(directory: Path) -> Path:
    """A second Trigger for each function, copied from `eventing/config/triggers.yaml` under
    another name: the broker delivers every event (and every reply) to each function twice, at
    the same time, as two Triggers on a Knative broker would."""
    documents = list(yaml.safe_load_all((CONFIG_DIR / "triggers.yaml").read_text()))
    for document in documents:
        document["metadata"]["name"] += "-again"
    path = directory / "triggers-again.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return path


@pytest.fixture(scope="module")
def doubled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    root = tmp_path_factory.mktemp("doubled")
    with running(root / "stack", triggers=[doubled_triggers(root)]) as harness:
        yield harness


def test_every_event_delivered_twice_still_applies_each_iteration_once(doubled: Harness) -> None:
    broker = doubled.stack.broker
    assert broker is not None
    urls = [t.url for t in broker.engine.targets()]
    for function in doubled.stack.functions:
        assert urls.count(function.url) == 2, f"{function.phase} has two Triggers"
    since = doubled.mark()
    ref = doubled.submit(*canary("twice", iterations=5))
    check_ended_once(doubled, ref, since, iterations=5)
    assert broker.stats["delivered"] >= 2 * 5 * 3  # (due, analysed, applied) × 2 per iteration
    assert doubled.dead_letters() == ""


def post(harness: Harness, event: CloudEvent) -> int:
    headers, body = to_binary(event)
    return httpx.post(harness.stack.sink, headers=headers, content=body, timeout=30).status_code


def stale_and_early_events(ref: ExperimentRef, raw: dict[str, Any], done: int) -> list[CloudEvent]:
    """Events that arrive late (for iterations long done), again, or early (for an iteration
    not yet due, a conclusion before the end), with `done` iterations completed."""
    return [
        add_event(raw),  # the ApiServerSource's `add` once more
        experiment_event(EventType.INITIALIZATION_DUE, "analyze", ref, 0),
        experiment_event(EventType.INITIALIZED, "init", ref, 0),
        experiment_event(EventType.ITERATION_DUE, "analyze", ref, 1),
        experiment_event(EventType.ANALYSIS_COMPLETED, "analyze", ref, 1),
        experiment_event(EventType.ANALYSIS_COMPLETED, "analyze", ref, done),
        experiment_event(EventType.ITERATION_DUE, "analyze", ref, done + 2),
        experiment_event(EventType.ANALYSIS_COMPLETED, "analyze", ref, done + 2),
        experiment_event(EventType.CONCLUDED, "analyze", ref, done + 1),
        experiment_event(EventType.ITERATION_DUE, "analyze", ref, done + 1),  # maybe not due
    ]


def test_late_repeated_and_early_events_mid_run_change_nothing(shared: Harness) -> None:
    since = shared.mark()
    objects = canary("reordered", iterations=6)
    ref = shared.submit(*objects)
    sent: list[int] = []
    deadline = time.monotonic() + 60
    while len(sent) < 3 and time.monotonic() < deadline:
        raw = shared.get(EXPERIMENTS, ref.namespace, ref.name)
        done = (raw.get("status") or {}).get("completedIterations", 0)
        if done >= 2 + len(sent):  # three rounds: after iterations 2, 3 and 4
            for event in stale_and_early_events(ref, raw, done):
                assert post(shared, event) == 202
            sent.append(done)
        time.sleep(0.05)
    assert len(sent) == 3, f"the stale events went out after iterations {sent}"
    check_ended_once(shared, ref, since, iterations=6)


# After which successful status write each function exits hard, before it replies:
# init's 2nd (Running: `initialized` is lost), analyze's 2nd (iteration 1 analysed:
# `analysis.completed` is lost), route's 1st (iteration 1 complete: `weights.applied` is lost),
# promote's 1st (its claim on the finish: it dies holding it, so only the claim timeout frees it).
CRASHES = {"init": 2, "analyze": 2, "route": 1, "promote": 1}


@pytest.fixture(scope="module")
def crashing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, Path]]:
    root = tmp_path_factory.mktemp("crashing")
    markers = root / "markers"
    markers.mkdir()
    env = {
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(CRASH_HOOK), os.environ.get("PYTHONPATH")) if p
        ),
        "E2E_CRASH": ",".join(f"{phase}:{n}" for phase, n in CRASHES.items()),
        "E2E_CRASH_DIR": str(markers),
    }
    with running(root / "stack", env=env, claim_timeout=2) as harness:
        yield harness, markers


def test_functions_killed_between_status_write_and_reply(
    crashing: tuple[Harness, Path],
) -> None:
    harness, markers = crashing
    since = harness.mark()
    ref = harness.submit(*canary("crashing", iterations=4))
    check_ended_once(harness, ref, since, iterations=4, lost={1})
    assert sorted(p.name for p in markers.iterdir()) == sorted(f"{p}.crashed" for p in CRASHES)
    supervisor = harness.stack.supervisor
    assert supervisor is not None  # the stack's own, restarting each function as Knative would
    assert sorted(supervisor.restarted) == sorted(CRASHES), "each function died once"
    assert harness.dead_letters() == ""


# --- `iter8 run` as a real process: signals, killed children, nothing left behind -----------


# The command after it runs with Ctrl-C's signal at its default, as from a terminal: a runner
# started in the background (`cmd &` in a script) ignores SIGINT, its children inherit that, and
# Python then leaves it ignored, so the SIGINT case would wait for a run that cannot hear it.
# Same pid: the command replaces this trampoline.
AS_FROM_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]


@dataclass
class RunProcess:
    """`iter8 run FILE` started as a subprocess; its stderr read line by line."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    seen: set[proctree.Identity] = field(default_factory=set)  # every descendant met so far

    @classmethod
    def start(
        cls, directory: Path, *objects: dict[str, Any], args: Sequence[str] = ()
    ) -> RunProcess:
        file = directory / "experiment.yaml"
        file.write_text(yaml.safe_dump_all(objects))
        iter8 = Path(sys.executable).with_name("iter8")
        temporary = directory / "tmp"  # where the run makes its temporary store and logs
        temporary.mkdir()
        process = subprocess.Popen(
            [
                *AS_FROM_A_TERMINAL,
                str(iter8),
                "run",
                str(file),
                "--tick",
                "0.3",
                "--seed",
                "7",
                *args,
            ],
            env={**os.environ, "TMPDIR": str(temporary)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        run = cls(process)
        threading.Thread(target=run._read, daemon=True).start()
        return run

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.process.poll() is None, f"iter8 run ended: {self.lines}"
            assert time.monotonic() < deadline, f"no {text!r} after {timeout}s: {self.lines}"
            time.sleep(0.05)
        self.seen |= proctree.descendants(self.process.pid)

    def function(self, phase: str) -> int:
        """The pid of the function process serving `phase` (its gunicorn arbiter)."""
        for pid in proctree.children(self.process.pid):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"--target" in cmdline and cmdline[cmdline.index(b"--target") + 1] == phase.encode():
                return pid
        raise AssertionError(f"no {phase} function under {self.process.pid}")

    def stop(self) -> None:
        """After each test (it matters when one failed half-way): end this run and whatever it
        left, by pid, checking that each pid is still the process met before."""
        self.seen |= proctree.descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for process in self.seen:
            if proctree.alive(process):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process[0], signal.SIGKILL)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[RunProcess]]:
    runs: list[RunProcess] = []
    yield runs
    for run in runs:
        run.stop()


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name
)
def test_iter8_run_leaves_no_process_behind_when_signalled(
    tmp_path: Path, started: list[RunProcess], sig: signal.Signals
) -> None:
    """SIGTERM and SIGINT stop the stack in order; SIGKILL cannot be caught, and the functions
    end by their parent-death signal. Every descendant, recorded by pid while the experiment
    ran, is gone. (SIGTERM used to leave the 8 function processes running.)"""
    run = RunProcess.start(tmp_path, *canary("signalled", iterations=40))
    started.append(run)
    run.wait_for("iteration 2/")
    family = proctree.descendants(run.process.pid)
    assert len(family) >= 8, family  # 4 arbiters and their workers
    run.process.send_signal(sig)
    code = run.process.wait(timeout=30)
    assert code == {signal.SIGTERM: 128 + signal.SIGTERM, signal.SIGINT: 1}.get(sig, -sig)
    assert proctree.wait_gone(family, timeout=10) == set()
    left = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "tmp").iterdir())
    # the temporary store (it holds the file's Secrets) is removed, unless the run was killed
    assert left == (["iter8", "iter8-logs"] if sig == signal.SIGKILL else ["iter8-logs"])


def test_iter8_run_restarts_a_killed_function_and_leaves_nothing_behind(
    tmp_path: Path, started: list[RunProcess]
) -> None:
    """kill -9 of the analyze function at iteration 3: the stack starts it again (saying so),
    its orphaned worker is gone at once, the experiment completes; the run's store and logs are
    its owner's alone."""
    store = tmp_path / "store.db"
    run = RunProcess.start(tmp_path, *canary("killed", iterations=8), args=["--store", str(store)])
    started.append(run)
    run.wait_for("iteration 3/")
    analyze = run.function("analyze")
    killed = proctree.descendants(analyze) | {proctree.identity(analyze)}
    os.kill(analyze, signal.SIGKILL)
    assert proctree.wait_gone({p for p in killed if p is not None}, timeout=3) == set()
    run.wait_for("function analyze")
    family = proctree.descendants(run.process.pid)
    assert run.process.wait(timeout=90) == 0, run.lines
    assert any("restarting (1/5)" in line for line in run.lines), run.lines
    assert any("completed" in line for line in run.lines), run.lines
    assert proctree.wait_gone(family, timeout=10) == set()
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    (logs,) = [line.rsplit(" ", 1)[1] for line in run.lines if "logs of the functions" in line]
    assert stat.S_IMODE(Path(logs).stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in Path(logs).iterdir()} == {0o600}
