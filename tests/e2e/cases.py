"""The testing patterns end to end: one experiment per pattern and algorithm, with what each must
end in. Metrics are mocked or measured by `metrics/collect` against local sample apps. Mocked
objectives sit far from their limits (a mocked Gauge is `2·level·Beta(t, t)`, so it is never
above twice its level) and mocked rewards are Counters (`level·t`), so every run decides alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from iter8.store.resources import ISTIO_VIRTUAL_SERVICES, KNATIVE_SERVICES, Resource
from tests.e2e.builders import (
    Object,
    collect,
    experiment,
    istio_ref,
    knative_ref,
    knative_service,
    mock_metric,
    version,
    virtual_service,
)

ALGORITHMS = ("bayesian", "iter8-v2")


@dataclass(frozen=True)
class Case:
    name: str
    algorithm: str
    objects: list[Object]  # routed objects and metrics first, the experiment last
    event: str  # the terminal event the sinks get: `experiment.promoted` or `.rolledback`
    action: str  # status.analysis.decision.action
    keep: str  # the version that has all the traffic at the end
    routed: tuple[Resource, str] | None  # the object that carries the split
    finish_file: Path | None = None  # written by a `run` finish action; holds `keep`
    start: dict[str, int] = field(default_factory=dict)  # the split before the experiment

    @property
    def experiment(self) -> Object:
        return self.objects[-1]

    @property
    def versions(self) -> list[str]:
        info = self.experiment["spec"]["versionInfo"]
        return [v["name"] for v in [info["baseline"], *info["candidates"]]]


def split_of(routed: Object) -> dict[str, int]:
    """The traffic split a routed object holds, by version name (read here, not by the product)."""
    if routed["kind"] == "Service":
        return {t["tag"]: t["percent"] for t in routed["spec"]["traffic"]}
    return {
        r["destination"]["host"].rsplit("-", 1)[1]: r["weight"]
        for r in routed["spec"]["http"][0]["route"]
    }


def _echo(path: Path, condition: str) -> Object:
    return {"if": condition, "run": f"echo @< .Status.VersionRecommendedForPromotion >@ > {path}"}


def _algo(algorithm: str) -> str | None:
    return None if algorithm == "bayesian" else algorithm


def conformance(algorithm: str, app_url: str, out: Path) -> Case:
    """One version, measured by `metrics/collect` each iteration; it meets its latency SLOs by
    far (a 2 ms app against 1 s and 5 s: a loaded test machine stretches the tail, and the
    Bayesian test must still prove the percentile within three iterations)."""
    name = f"conformance-{algorithm}"
    criteria = {
        "requestCount": "iter8-system/request-count",
        "objectives": [
            {"metric": "iter8-system/mean-latency", "upperLimit": 1000},
            {"metric": "iter8-system/latency-95th-percentile", "upperLimit": 5000},
        ],
    }
    actions = {"loop": [collect({"v1": app_url})], "finish": [_echo(out, "WinnerFound()")]}
    exp = experiment(
        name,
        "Conformance",
        [version("v1")],
        criteria=criteria,
        actions=actions,
        algorithm=_algo(algorithm),
        iterations=1,
        loops=3,
    )
    return Case(name, algorithm, [exp], "experiment.promoted", "promote", "v1", None, out)


# Mocked gauges have no sample size: `bayesian` judges them by their spread across iterations
# (one value is no evidence; about four make a proof) and promotes only with a known request
# count behind them (an unknown n is 0), hence a mocked request count and room for 8 iterations.
MOCK_ITERATIONS = 8


def _requests(name: str, versions: tuple[str, ...]) -> Object:
    return mock_metric(f"{name}-requests", dict.fromkeys(versions, 100), kind="Counter")


def canary(algorithm: str, out: Path) -> Case:
    """Knative Service 100/0; the candidate's latency (mocked 50) meets `≤ 200`: promoted."""
    name = f"canary-{algorithm}"
    service = knative_service(name, [100, 0])
    latency = mock_metric(f"{name}-latency", {"v1": 100, "v2": 50})
    exp = experiment(
        name,
        "Canary",
        [version("v1", knative_ref(name, 0)), version("v2", knative_ref(name, 1))],
        criteria={
            "requestCount": f"default/{name}-requests",
            "objectives": [{"metric": f"default/{name}-latency", "upperLimit": 200}],
        },
        actions={"finish": [_echo(out, "CandidateWon()")]},
        algorithm=_algo(algorithm),
        iterations=MOCK_ITERATIONS,
    )
    return Case(
        name,
        algorithm,
        [service, latency, _requests(name, ("v1", "v2")), exp],
        "experiment.promoted",
        "promote",
        "v2",
        (KNATIVE_SERVICES, name),
        out,
        {"v1": 100, "v2": 0},
    )


def ab(algorithm: str, out: Path) -> Case:
    """Istio VirtualService 100/0; both versions feasible, the candidate's reward is higher."""
    name = f"ab-{algorithm}"
    routing = virtual_service(name, [100, 0])
    metrics = [
        mock_metric(f"{name}-engagement", {"v1": 15, "v2": 20}, kind="Counter"),
        mock_metric(f"{name}-latency", {"v1": 60, "v2": 70}),
    ]
    criteria = {
        "requestCount": f"default/{name}-requests",
        "rewards": [{"metric": f"default/{name}-engagement", "preferredDirection": "High"}],
        "objectives": [{"metric": f"default/{name}-latency", "upperLimit": 300}],
    }
    exp = experiment(
        name,
        "A/B",
        [version("v1", istio_ref(name, 0)), version("v2", istio_ref(name, 1))],
        criteria=criteria,
        actions={"finish": [_echo(out, "CandidateWon()")]},
        algorithm=_algo(algorithm),
        iterations=MOCK_ITERATIONS,
    )
    return Case(
        name,
        algorithm,
        [routing, *metrics, _requests(name, ("v1", "v2")), exp],
        "experiment.promoted",
        "promote",
        "v2",
        (ISTIO_VIRTUAL_SERVICES, name),
        out,
        {"v1": 100, "v2": 0},
    )


def abn(algorithm: str, out: Path) -> Case:
    """Three versions on one VirtualService: v3 has the best reward but fails its latency
    objective (without rollback), so the winner is v2, the best feasible one."""
    name = f"abn-{algorithm}"
    routing = virtual_service(name, [100, 0, 0])
    metrics = [
        mock_metric(f"{name}-engagement", {"v1": 10, "v2": 30, "v3": 50}, kind="Counter"),
        mock_metric(f"{name}-latency", {"v1": 50, "v2": 50, "v3": 100_000}),
    ]
    criteria = {
        "requestCount": f"default/{name}-requests",
        "rewards": [{"metric": f"default/{name}-engagement", "preferredDirection": "High"}],
        "objectives": [{"metric": f"default/{name}-latency", "upperLimit": 200}],
    }
    versions = [version(v, istio_ref(name, i)) for i, v in enumerate(("v1", "v2", "v3"))]
    exp = experiment(
        name,
        "A/B/N",
        versions,
        criteria=criteria,
        actions={"finish": [_echo(out, "WinnerFound()")]},
        algorithm=_algo(algorithm),
        iterations=MOCK_ITERATIONS,
    )
    return Case(
        name,
        algorithm,
        [routing, *metrics, _requests(name, ("v1", "v2", "v3")), exp],
        "experiment.promoted",
        "promote",
        "v2",
        (ISTIO_VIRTUAL_SERVICES, name),
        out,
        {"v1": 100, "v2": 0, "v3": 0},
    )


def rollback(algorithm: str, out: Path) -> Case:
    """The candidate already has 20% and its latency (mocked 10000) breaks `≤ 100`, an
    objective with `rollback_on_failure`: rolled back, all traffic to the baseline again."""
    name = f"rollback-{algorithm}"
    service = knative_service(name, [80, 20])
    latency = mock_metric(f"{name}-latency", {"v1": 50, "v2": 10000})
    objective = {
        "metric": f"default/{name}-latency",
        "upperLimit": 100,
        "rollback_on_failure": True,
    }
    exp = experiment(
        name,
        "Canary",
        [version("v1", knative_ref(name, 0)), version("v2", knative_ref(name, 1))],
        criteria={"objectives": [objective]},
        actions={"finish": [_echo(out, "not CandidateWon()")]},
        algorithm=_algo(algorithm),
        iterations=MOCK_ITERATIONS,
    )
    return Case(
        name,
        algorithm,
        [service, latency, exp],
        "experiment.rolledback",
        "rollback",
        "v1",
        (KNATIVE_SERVICES, name),
        out,
        {"v1": 80, "v2": 20},
    )


def measured_canary(algorithm: str, apps: Apps, out: Path) -> Case:
    """Built-in metrics from `metrics/collect` each iteration: the candidate app is the faster
    one and both meet loose latency limits, so the candidate is promoted. The limits are far
    above the apps' 2 and 20 ms because a loaded 2-core machine (all cases run at once) stretches
    the tail past a second, and the Bayesian test must prove the p95 from a few hundred requests
    (with a 1 s limit it once fell short: P(holds) 0.986, e-value 6 of the 20 needed)."""
    name = f"measured-canary-{algorithm}"
    service = knative_service(name, [100, 0])
    criteria = {
        "requestCount": "iter8-system/request-count",
        "objectives": [
            {"metric": "iter8-system/mean-latency", "upperLimit": 1000},
            {"metric": "iter8-system/latency-95th-percentile", "upperLimit": 5000},
        ],
    }
    actions = {
        "loop": [collect({"v1": apps.slow, "v2": apps.fast})],
        "finish": [_echo(out, "CandidateWon()")],
    }
    exp = experiment(
        name,
        "Canary",
        [version("v1", knative_ref(name, 0)), version("v2", knative_ref(name, 1))],
        criteria=criteria,
        actions=actions,
        algorithm=_algo(algorithm),
        iterations=1,
        loops=4,
    )
    return Case(
        name,
        algorithm,
        [service, exp],
        "experiment.promoted",
        "promote",
        "v2",
        (KNATIVE_SERVICES, name),
        out,
        {"v1": 100, "v2": 0},
    )


def measured_rollback(algorithm: str, apps: Apps, out: Path) -> Case:
    """Built-in metrics: the candidate app (with 20% of the traffic) fails 60% of its requests;
    `error-rate ≤ 0.05` has `rollback_on_failure`, so it is rolled back."""
    name = f"measured-rollback-{algorithm}"
    service = knative_service(name, [80, 20])
    criteria = {
        "requestCount": "iter8-system/request-count",
        "objectives": [
            {"metric": "iter8-system/error-rate", "upperLimit": "0.05", "rollback_on_failure": True}
        ],
    }
    actions = {
        "loop": [collect({"v1": apps.fast, "v2": apps.failing})],
        "finish": [_echo(out, "not CandidateWon()")],
    }
    exp = experiment(
        name,
        "Canary",
        [version("v1", knative_ref(name, 0)), version("v2", knative_ref(name, 1))],
        criteria=criteria,
        actions=actions,
        algorithm=_algo(algorithm),
        iterations=1,
        loops=5,
    )
    return Case(
        name,
        algorithm,
        [service, exp],
        "experiment.rolledback",
        "rollback",
        "v1",
        (KNATIVE_SERVICES, name),
        out,
        {"v1": 80, "v2": 20},
    )


@dataclass(frozen=True)
class Apps:
    """URLs of the local sample apps (`iter8.demo.app`) that `metrics/collect` loads."""

    fast: str  # 2 ms, no errors
    slow: str  # 20 ms, no errors
    failing: str  # 2 ms, 60% answered 500


def all_cases(apps: Apps, directory: Path) -> list[Case]:
    cases: list[Case] = []
    for algorithm in ALGORITHMS:
        out = directory / algorithm
        out.mkdir(parents=True, exist_ok=True)
        cases += [
            conformance(algorithm, apps.fast, out / "conformance"),
            canary(algorithm, out / "canary"),
            ab(algorithm, out / "ab"),
            abn(algorithm, out / "abn"),
            rollback(algorithm, out / "rollback"),
            measured_canary(algorithm, apps, out / "measured-canary"),
            measured_rollback(algorithm, apps, out / "measured-rollback"),
        ]
    return cases
