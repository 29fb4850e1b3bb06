"""Playing a demo scenario: two versions of the sample app, the embedded router in front of them
(routing by the scenario's object in the store), users sending real HTTP through it before,
during and after an experiment run on the embedded stack; and what each group of users saw."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from iter8.api.experiment import Experiment
from iter8.dataplane.proxy import Limits, Router
from iter8.demo.app import Behaviour, SampleApp
from iter8.demo.experiment import BASELINE, CANDIDATE, NAMESPACE, SERVICE, canary
from iter8.demo.scenarios import Object, Scenario
from iter8.demo.traffic import PHASES, Users, tally
from iter8.embedded.run import create, succeeded, wait
from iter8.embedded.stack import EmbeddedStack, StackOptions
from iter8.manifests import Document
from iter8.routing.registry import router_for
from iter8.routing.router import WeightTarget
from iter8.store.sqlite import SqliteStore

CANDIDATE_BEHAVIOUR = Behaviour(latency_ms=30, error_rate=0.002)
BASELINE_BEHAVIOUR = Behaviour(latency_ms=50, error_rate=0.005)


@dataclass(frozen=True)
class Settings:
    candidate: Behaviour = CANDIDATE_BEHAVIOUR
    baseline: Behaviour = BASELINE_BEHAVIOUR
    seed: int = 1
    timeout: float = 300
    interval_seconds: int = 2
    settle_seconds: float = 1.5  # users' requests before the experiment, and after it
    users_per_group: int = 10
    rate_per_second: float = 20


@dataclass(frozen=True)
class Observation:
    """What the scenario's run showed."""

    experiment: Experiment
    succeeded: bool
    seen: dict[tuple[str, str], Counter[str]]  # (group, phase) → version → requests
    switched: dict[str, float | None]  # group → share of its users who switched version
    splits: list[dict[str, int]]  # each split the router routed by, in order, repeats removed
    mirrored: int
    mirror_dropped: int
    leftovers: int  # operations still needed to remove the experiment's shaping (0: none left)
    unavailable: int  # requests the router answered 503
    router_url: str
    store_path: Path
    log_dir: Path


def play(scenario: Scenario, settings: Settings, say: Callable[[str], None]) -> Observation:
    work = Path(tempfile.mkdtemp(prefix=f"iter8-demo-{scenario.name}-"))
    store_path = work / "store.db"
    store = SqliteStore(store_path)
    apps = {
        BASELINE: SampleApp(BASELINE, settings.baseline, settings.seed).start(),
        CANDIDATE: SampleApp(CANDIDATE, settings.candidate, settings.seed + 1).start(),
    }
    urls = {name: app.url for name, app in apps.items()}
    initial = store.create(scenario.resource, scenario.routed)["metadata"]["resourceVersion"]
    router = Router(
        store,
        scenario.resource,
        NAMESPACE,
        SERVICE,
        urls,
        Limits(poll_seconds=0.1),
        seed=settings.seed,
    ).start()
    users = Users(
        router.url,
        scenario.groups,
        settings.users_per_group,
        scenario.requests_per_user,
        settings.rate_per_second,
    )
    say(f"iter8 demo --scenario {scenario.name}: {scenario.summary}")
    say(f"iter8 demo: {BASELINE} at {urls[BASELINE]}, {CANDIDATE} at {urls[CANDIDATE]}")
    say(f"iter8 demo: users send requests to the router at {router.url}, which decides")
    options = StackOptions(store=f"sqlite:{store_path}", seed=settings.seed, log_dir=work / "logs")
    experiment = canary(
        urls,
        interval_seconds=settings.interval_seconds,
        version_info=scenario.version_info(),
        deployment_pattern=scenario.deployment_pattern,
    )
    try:
        with EmbeddedStack(store, options):
            users.start()
            time.sleep(settings.settle_seconds)
            users.phase = "during"
            refs = create(store, [Document("demo", 0, 1, experiment)])
            final = wait(
                store, refs, lambda line: say(f"{line}  {served(users)}"), settings.timeout
            )
            time.sleep(3 * router.limits.poll_seconds)  # the router reads the final object
            users.phase = "after"
            time.sleep(settings.settle_seconds)
    finally:
        users.stop()
        router.stop()
        for app in apps.values():
            app.stop()
    routed = store.get(scenario.resource, NAMESPACE, SERVICE)
    seen = tally(users.records, initial, routed["metadata"]["resourceVersion"])
    return Observation(
        experiment=final[0],
        succeeded=succeeded(final),
        seen=seen.seen,
        switched={g.name: seen.switched.get(g.name) for g in scenario.groups},
        splits=_changes([split(scenario, obj) for obj in router.counts.history]),
        mirrored=router.counts.mirrored,
        mirror_dropped=router.counts.mirror_dropped,
        leftovers=len(_leftovers(scenario, routed)),
        unavailable=router.counts.unavailable,
        router_url=router.url,
        store_path=store_path,
        log_dir=options.log_dir,
    )


def split(scenario: Scenario, obj: Object) -> dict[str, int]:
    """The weights the object holds, read where the experiment's weightObjRefs point."""
    router = router_for(scenario.resource.api_version, scenario.resource.kind)
    return {
        version: router.read(obj, path)
        for version, path in zip((BASELINE, CANDIDATE), scenario.field_paths, strict=True)
    }


def _changes(splits: list[dict[str, int]]) -> list[dict[str, int]]:
    return [s for i, s in enumerate(splits) if i == 0 or s != splits[i - 1]]


def _leftovers(scenario: Scenario, obj: Object) -> list[dict[str, object]]:
    """What the experiment's shaping left in the object (a mirror, a test route): the operations
    the router's own `finish` would still need."""
    router = router_for(scenario.resource.api_version, scenario.resource.kind)
    targets = [
        WeightTarget(v, p) for v, p in zip((BASELINE, CANDIDATE), scenario.field_paths, strict=True)
    ]
    return router.finish(obj, targets, [CANDIDATE])


def served(users: Users) -> str:
    counts = [
        f"{name} {users.served[name]} ({users.failed[name]} failed)"
        for name in (BASELINE, CANDIDATE)
    ]
    return "users: " + ", ".join(counts)


def describe_seen(observation: Observation, groups: list[str]) -> list[str]:
    """One line per group: the share of its requests each version answered, by phase."""
    lines = []
    width = max(len(g) for g in groups)
    for group in groups:
        parts = []
        for phase in PHASES:
            counts = observation.seen.get((group, phase), Counter())
            total = sum(counts.values())
            shares = " ".join(
                f"{v.removeprefix(SERVICE + '-')} {100 * n / total:.0f}%"
                for v, n in sorted(counts.items())
            )
            parts.append(f"{phase}: {shares or '-'} ({total})")
        lines.append(f"  {group:<{width}}  " + " | ".join(parts))
    return lines
