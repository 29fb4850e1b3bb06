"""Every Iter8 v2 sample in `shared/compat/iter8-v2-samples/` runs to completion with `iter8 run`
(the console script, in a subprocess) on the embedded stack.

The samples are read from `shared/` and transformed here, in memory, into one run file each
(the files in `shared/` stay as written). What changes, and why:

* every sample: `intervalSeconds` becomes 1 (kfserving had 5, istio 10), so a run takes seconds;
  iteration counts are kept. Each finish task `kubectl apply -f https://…/<file>` (they fetch
  from GitHub and need kubectl and a cluster) becomes two tasks under the same `if:`: a
  `common/apply` of a local stand-in for `<file>` (the routed object with 100% on the version
  that branch promotes, annotated with the file's name) and a `run: echo … > <tmp>/<file>.applied`,
  so the branch that ran is visible in the store and on disk.
* the routed objects the samples assume exist are created in the store: the Knative samples'
  own `knative-quickstart-experimentalservice.yaml`; for the Istio and KFServing samples (whose
  VirtualServices are not among the samples) a VirtualService with one route per version, 100/0.
* istio-quickstart: its Prometheus metrics' `urlTemplate` points at the local Prometheus
  (`scripts/prometheus.sh start`), fed by remote write with per-version Istio series
  (`istio_requests_total`, `istio_request_duration_milliseconds_{sum,bucket}`) labelled
  `reporter`, `destination_workload`, `destination_workload_namespace` so that the samples' PromQL
  matches unchanged. The versions' `namespace` variable (the sample's `$namespace` in the
  queries) gets a suffix unique to the test run, so no earlier run's series are summed in.
* knative-quickstart and knative-hybrid: the `metrics/collect` URLs (cluster-local hostnames)
  point at local sample apps (`iter8.demo.app`), and the task gets `numQueries: 20, qps: 0`
  (v2's default, 100 queries at 8 qps, is 25 s of load per loop).
* builtin-metrics.yaml (the Knative samples' metrics file) goes to `iter8-system`, where Iter8 v2
  installed it and where the samples refer to it.
* the Istio sample's experiment (in `default`) routes a VirtualService in `bookinfo-iter8`: the
  runs get the operator's allow-list for that (`ITER8_ALLOWED_REFERENCE_NAMESPACES`), without
  which `iter8 run` refuses the cross-namespace reference.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from iter8.demo.app import Behaviour, SampleApp
from iter8.routing.objects import resource_for
from iter8.security.namespaces import REFERENCE_NAMESPACES_ENV
from iter8.store.sqlite import SqliteStore
from tests.compat import experiment_files, metrics_file_for, samples_dir
from tests.prometheus import Series, push

Object = dict[str, Any]
ITER8 = str(Path(sys.executable).parent / "iter8")
KUBECTL_APPLY = re.compile(r"kubectl\b.*\bapply\s+-f\s+(?P<url>https?://\S+?)\"?$")
APPLIED = "e2e.iter8.tools/applied"
RUN_TIMEOUT = 150  # seconds, for `iter8 run --timeout`; the test allows a little more

# Four `iter8 run`s side by side (four stacks of four function processes) take about 50 s on
# 2 cores, most of it starting the processes; the first test waits for all of that.
pytestmark = pytest.mark.slow


@dataclass
class Launch:
    sample: str
    directory: Path
    experiment: Object  # as transformed
    routed: list[Object]  # the objects the weightObjRefs name
    process: subprocess.Popen[str]
    finish: dict[str, list[Path]] = field(default_factory=dict)  # `if:` → files it writes
    stdout: str = ""
    stderr: str = ""

    def result(self) -> tuple[int, Object]:
        """Exit code and the final Experiment (`--output json`)."""
        try:
            self.stdout, self.stderr = self.process.communicate(timeout=RUN_TIMEOUT + 30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.stdout, self.stderr = self.process.communicate()
            pytest.fail(f"iter8 run {self.sample} did not end:\n{self.stderr[-3000:]}")
        try:
            final = json.loads(self.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"iter8 run {self.sample}: no JSON on stdout:\n{self.stderr[-3000:]}")
        return self.process.returncode, final

    @property
    def log_dir(self) -> Path:
        match = re.search(r"logs of the functions and the events in (\S+)", self.stderr)
        assert match, self.stderr
        return Path(match[1])

    def store(self) -> SqliteStore:
        return SqliteStore(self.directory / "store.db")


def read_yaml(name: str) -> list[Object]:
    return [d for d in yaml.safe_load_all((samples_dir() / name).read_text()) if d]


def set_field(obj: Object, field_path: str, value: int) -> None:
    """Set `.spec.http[0].route[1].weight`-style paths (what the samples' fieldPaths use)."""
    steps = [int(s) if s.isdigit() else s for s in re.findall(r"[^.\[\]]+", field_path)]
    target: Any = obj
    for step in steps[:-1]:
        target = target[step]
    target[steps[-1]] = value


def versions_of(exp: Object) -> list[Object]:
    info = exp["spec"]["versionInfo"]
    return [info["baseline"], *info["candidates"]]


def routed_objects(exp: Object) -> list[Object]:
    """One object per distinct weightObjRef, with a valid split: 100 on the baseline."""
    objects: dict[tuple[str, str, str], Object] = {}
    for index, v in enumerate(versions_of(exp)):
        ref = v["weightObjRef"]
        key = (ref["kind"], ref.get("namespace", "default"), ref["name"])
        if key not in objects:
            if ref["kind"] == "Service":  # the Knative samples' own Service
                (service,) = read_yaml("knative-quickstart-experimentalservice.yaml")
                assert (service["metadata"]["name"], ref["name"]) == ("sample-app", "sample-app")
                objects[key] = service
            else:
                routes = [
                    {"destination": {"host": w["name"]}, "weight": 0} for w in versions_of(exp)
                ]
                objects[key] = {
                    "apiVersion": ref["apiVersion"],
                    "kind": ref["kind"],
                    "metadata": {"name": ref["name"], "namespace": key[1]},
                    "spec": {"hosts": [ref["name"]], "http": [{"route": routes}]},
                }
        set_field(objects[key], ref["fieldPath"], 100 if index == 0 else 0)
    return list(objects.values())


def stand_in(exp: Object, routed: list[Object], promoted: str, file: str) -> list[Object]:
    """What `kubectl apply -f <file>` would have done: the routed objects, all traffic on
    `promoted`, marked with the file's name."""
    objects = copy.deepcopy(routed)
    for obj in objects:
        obj["metadata"].setdefault("annotations", {})[APPLIED] = file
    for v in versions_of(exp):
        ref = v["weightObjRef"]
        for obj in objects:
            if obj["metadata"]["name"] == ref["name"] and obj["kind"] == ref["kind"]:
                set_field(obj, ref["fieldPath"], 100 if v["name"] == promoted else 0)
    return objects


def localize_finish(launch_dir: Path, exp: Object, routed: list[Object]) -> dict[str, list[Path]]:
    """Replace each `kubectl apply -f https://…` finish task by a `common/apply` of a local
    stand-in and a `run: echo` into a file; which files each `if:` branch writes."""
    actions = exp["spec"]["strategy"]["actions"]
    versions = [v["name"] for v in versions_of(exp)]
    branches: dict[str, list[Path]] = {}
    tasks: list[Object] = []
    for task in actions.get("finish", []):
        match = KUBECTL_APPLY.search(task.get("run", ""))
        if match is None:
            tasks.append(task)
            continue
        file = match["url"].rsplit("/", 1)[1]
        condition = task.get("if", "")
        promoted = versions[0] if condition.startswith("not") else versions[-1]
        manifest = launch_dir / f"local-{file}"
        manifest.write_text(yaml.safe_dump_all(stand_in(exp, routed, promoted, file)))
        out = launch_dir / f"{file}.applied"
        echo = f"echo applied {file} for @< .Status.VersionRecommendedForPromotion >@ > {out}"
        tasks += [
            {"if": condition, "task": "common/apply", "with": {"file": str(manifest)}},
            {"if": condition, "run": echo},
        ]
        branches.setdefault(condition, []).append(out)
    actions["finish"] = tasks
    return branches


def localize_collect(exp: Object, apps: dict[str, str]) -> None:
    for task in exp["spec"]["strategy"]["actions"].get("loop", []):
        if task.get("task") == "metrics/collect":
            for target in task["with"]["versions"]:
                target["url"] = apps[target["name"]]
            task["with"] |= {"numQueries": 20, "qps": 0}


def needs_prometheus(sample: str) -> bool:
    return any(m.get("spec", {}).get("provider") == "prometheus" for m in metric_docs(sample))


def metric_docs(sample: str) -> list[Object]:
    return read_yaml(metrics_file_for(sample))


# Per-version Istio traffic for the Prometheus sample: requests/s, errors/s, mean latency (ms),
# fraction under 500 ms. Both versions meet the sample's objectives (mean ≤ 300, errors ≤ 0.01).
ISTIO_TRAFFIC = {
    "productpage-v1": (10.0, 0.05, 120.0, 0.9),
    "productpage-v2": (10.0, 0.0, 80.0, 1.0),
}


def feed_istio(prometheus: str, namespace: str) -> None:
    """Counters from 20 s ago to 3 minutes ahead, a sample every 0.5 s, so that the sample's
    `increase(…[${elapsedTime}s])` at any moment of the run has at least two points."""
    start = time.time() - 20
    stamps = [start + 0.5 * i for i in range(400)]
    series: list[Series] = []
    for workload, (rps, eps, mean_ms, under_500) in ISTIO_TRAFFIC.items():
        labels = {
            "reporter": "source",
            "destination_workload": workload,
            "destination_workload_namespace": namespace,
        }

        counters = [
            ("istio_requests_total", rps - eps, {"response_code": "200"}),
            ("istio_requests_total", eps, {"response_code": "503"}),
            ("istio_request_duration_milliseconds_sum", rps * mean_ms, {}),
            ("istio_request_duration_milliseconds_bucket", rps * under_500, {"le": "500"}),
            ("istio_request_duration_milliseconds_bucket", rps, {"le": "+Inf"}),
        ]
        for name, rate, extra in counters:
            samples = [(t, 1000 + rate * (t - start)) for t in stamps]
            series.append(Series(name, {**labels, **extra}, samples))
    push(prometheus, series)


def prepare(
    sample: str, directory: Path, apps: dict[str, str], prometheus: str | None
) -> tuple[Path, Object, list[Object], dict[str, list[Path]]]:
    """The run file for `sample`: its metrics, the routed objects, the experiment."""
    (exp,) = read_yaml(sample)
    exp["spec"]["duration"]["intervalSeconds"] = 1
    metrics = metric_docs(sample)
    for metric in metrics:
        spec = metric.get("spec", {})
        if spec.get("provider") == "prometheus":
            assert prometheus is not None
            spec["urlTemplate"] = f"{prometheus}/api/v1/query"
        if spec.get("provider") == "iter8":
            metric["metadata"]["namespace"] = "iter8-system"
    if needs_prometheus(sample):
        assert prometheus is not None
        suffix = uuid.uuid4().hex[:8]
        namespaces = set()
        for v in versions_of(exp):
            for variable in v.get("variables", []):
                if variable["name"] == "namespace":
                    variable["value"] = f"{variable['value']}-{suffix}"
                    namespaces.add(variable["value"])
        assert len(namespaces) == 1, "the istio sample keeps both versions in one namespace"
        feed_istio(prometheus, namespaces.pop())
    localize_collect(exp, apps)
    routed = routed_objects(exp)
    branches = localize_finish(directory, exp, routed)
    run_file = directory / sample
    run_file.write_text(yaml.safe_dump_all([*metrics, *routed, exp]))
    return run_file, exp, routed, branches


def launch(sample: str, directory: Path, apps: dict[str, str], prometheus: str | None) -> Launch:
    run_file, exp, routed, branches = prepare(sample, directory, apps, prometheus)
    command = [
        ITER8, "run", str(run_file), "--store", str(directory / "store.db"), "--output", "json",
        "--tick", "0.3", "--seed", "7", "--timeout", str(RUN_TIMEOUT),
    ]  # fmt: skip
    env = {**os.environ, REFERENCE_NAMESPACES_ENV: "default:bookinfo-iter8"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    return Launch(sample, directory, exp, routed, process, branches)


@pytest.fixture(scope="module")
def apps() -> Iterator[dict[str, str]]:
    """The Knative samples' two versions as local sample apps, both quick and error-free."""
    servers = [
        SampleApp(name, Behaviour(latency_ms=3, error_rate=0), seed=i)
        for i, name in enumerate(("sample-app-v1", "sample-app-v2"))
    ]
    for server in servers:
        server.start()
    yield {server.version: server.url for server in servers}
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def launched(
    request: pytest.FixtureRequest,
    apps: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Launch | BaseException]]:
    """Every sample's `iter8 run` started at once (they overlap their waiting); a sample that
    needs Prometheus gets the fixture's skip (or, in CI, its failure) instead when it is absent."""
    samples_dir()
    try:
        prometheus: str | BaseException = request.getfixturevalue("prometheus_url")
    except (pytest.skip.Exception, pytest.fail.Exception) as error:
        prometheus = error
    launches: dict[str, Launch | BaseException] = {}
    for sample in experiment_files():
        if needs_prometheus(sample) and isinstance(prometheus, BaseException):
            launches[sample] = prometheus
            continue
        directory = tmp_path_factory.mktemp(sample.removesuffix("-experiment.yaml"))
        url = prometheus if isinstance(prometheus, str) else None
        launches[sample] = launch(sample, directory, apps, url)
    yield launches
    for item in launches.values():
        if isinstance(item, Launch) and item.process.poll() is None:
            item.process.kill()
            item.process.communicate()


def test_every_sample_is_here() -> None:
    samples_dir()
    assert experiment_files() == [
        "istio-quickstart-experiment.yaml",
        "kfserving-quickstart-experiment.yaml",
        "knative-hybrid-experiment.yaml",
        "knative-quickstart-experiment.yaml",
    ]


@pytest.mark.parametrize("sample", experiment_files())
def test_sample_runs_to_completion(
    launched: dict[str, Launch | BaseException], sample: str
) -> None:
    launch = launched[sample]
    if isinstance(launch, BaseException):
        raise launch
    code, final = launch.result()
    status = final["status"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert code == 0, launch.stderr[-3000:]
    assert status["stage"] == "Completed"
    assert conditions["Completed"]["status"] == "True"
    assert conditions["Failed"]["status"] == "False", conditions["Failed"]

    # the finish branch the outcome calls for ran, and only that one
    winner = status["analysis"]["winnerAssessment"]["data"]
    candidate = versions_of(launch.experiment)[-1]["name"]
    candidate_won = bool(winner.get("winnerFound")) and winner.get("winner") == candidate
    taken = "CandidateWon()" if candidate_won else "not CandidateWon()"
    for condition, files in launch.finish.items():
        for file in files:
            assert file.exists() == (condition == taken), f"{file} ({condition})"
    (ran,) = launch.finish[taken]
    kept = status["versionRecommendedForPromotion"]
    assert ran.read_text().strip().endswith(f"for {kept}")

    # the local stand-in was applied: the routed object carries its name and the final split
    store = launch.store()
    for obj in launch.routed:
        meta = obj["metadata"]
        stored = store.get(
            resource_for(obj["apiVersion"], obj["kind"]), meta["namespace"], meta["name"]
        )
        assert stored["metadata"]["annotations"][APPLIED] == ran.name.removesuffix(".applied")
    split = {w["name"]: w["value"] for w in status["currentWeightDistribution"]}
    assert split == {
        v["name"]: 100 if v["name"] == kept else 0 for v in versions_of(launch.experiment)
    }

    terminal = [
        line
        for line in (launch.log_dir / "events.log").read_text().splitlines()
        if ": experiment." in line
    ]
    assert len(terminal) == 1, terminal

    if needs_prometheus(sample):
        # the sample's PromQL, unchanged, read the series fed for each version
        data = status["analysis"]["aggregatedMetrics"]["data"]
        for version, (rps, eps, mean_ms, _) in ISTIO_TRAFFIC.items():
            latency = float(data["iter8-istio/mean-latency"]["data"][version]["value"])
            errors = float(data["iter8-istio/error-rate"]["data"][version]["value"])
            assert latency == pytest.approx(mean_ms, rel=1e-6)
            assert errors == pytest.approx(eps / rps, rel=1e-6)
    if any(
        t.get("task") == "metrics/collect"
        for t in launch.experiment["spec"]["strategy"]["actions"].get("loop", [])
    ):
        hists = status["analysis"]["aggregatedBuiltinHists"]["data"]
        assert set(hists) == {"sample-app-v1", "sample-app-v2"}
        assert all(h["DurationHistogram"]["Count"] >= 20 for h in hists.values())
