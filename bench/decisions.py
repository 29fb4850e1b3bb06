"""`iter8 bench decisions`: every algorithm × every scenario, seeded, over a process pool.

Work is cut into chunks of runs (the costliest first, so two workers finish together); each
chunk returns its scored runs, which `bench.summary` turns into the figures of
decision-anchors.md §4 and the targets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from multiprocessing import get_context

from bench.adapter import AlgorithmPolicy
from bench.baselines.fixed_horizon import FixedHorizon
from bench.baselines.flagger import Flagger
from bench.policy import Policy
from bench.run import Record, run
from bench.scenarios import SCENARIOS, Scenario, fixed_horizon_iterations

ALGORITHMS = ("bayesian", "iter8-v2", "flagger", "fixed-horizon")
CHUNK = 125  # runs per task
# annotations on every simulated Experiment (an Iter8 algorithm's settings), as (key, value)
Annotations = tuple[tuple[str, str], ...]


def applies(algorithm: str, scenario: Scenario, annotations: Annotations = ()) -> bool:
    """Flagger analyses a single canary and has no reward (so no Pareto); Iter8 v2 has no
    Pareto pattern; the fixed-horizon test needs a sample size for each reward; an Iter8
    algorithm runs where it accepts the Experiment (a pattern it refuses is n/a)."""
    if algorithm == "flagger":
        return len(scenario.arms) == 2 and scenario.pattern != "Pareto"
    if algorithm == "iter8-v2" and scenario.pattern == "Pareto":
        return False
    if algorithm == "fixed-horizon":
        return scenario.pattern == "Canary" or "engagement" not in scenario.rewards
    return accepts(algorithm, scenario, annotations)


@cache
def accepts(algorithm: str, scenario: Scenario, annotations: Annotations = ()) -> bool:
    """Does the algorithm take this Experiment at all? Tried on the first step (no data): an
    Experiment it cannot validate, or an error it raises, means it refuses the scenario."""
    try:
        policy_factory(algorithm, scenario, annotations)(0).start()
    except ValueError:  # pydantic's ValidationError is one
        return False
    return True


def policy_factory(
    algorithm: str, scenario: Scenario, annotations: Annotations = ()
) -> Callable[[int], Policy]:
    """`annotations` reach the Iter8 algorithms only (Flagger's rule and the fixed design have
    no settings)."""
    if algorithm == "flagger":
        return lambda seed: Flagger(scenario)
    if algorithm == "fixed-horizon":
        return lambda seed: FixedHorizon(scenario)
    from iter8.analytics.registry import get_algorithm  # lazily: each worker imports once

    chosen = get_algorithm(algorithm)
    return lambda seed: AlgorithmPolicy(chosen, scenario, seed, dict(annotations))


def available(algorithms: Iterable[str]) -> tuple[list[str], list[str]]:
    """The algorithms that can run here, and those that cannot (an unlanded module)."""
    from iter8.analytics.registry import algorithms as registered

    known = set(registered())
    ok = [a for a in algorithms if a in ("flagger", "fixed-horizon") or a in known]
    return ok, [a for a in algorithms if a not in ok]


@dataclass(frozen=True)
class Task:
    algorithm: str
    scenario: str
    seeds: tuple[int, ...]
    annotations: Annotations = ()

    def cost(self) -> float:
        scenario = _scenario(self.scenario)
        if self.algorithm == "fixed-horizon":
            length = fixed_horizon_iterations(scenario) * 0.05  # no analysis, cheap steps
        elif self.algorithm == "flagger":
            length = 8 * 0.1
        else:
            length = scenario.max_iterations * len(scenario.arms)
        return length * len(self.seeds)


def seed_of(base: int, scenario_index: int, run_index: int) -> int:
    return base * 1_000_003 + scenario_index * 10_007 + run_index


def tasks(
    algorithms: Sequence[str],
    scenarios: Sequence[Scenario],
    runs: int,
    base_seed: int,
    annotations: Annotations = (),
) -> list[Task]:
    result = []
    for algorithm in algorithms:
        for scenario in scenarios:
            if not applies(algorithm, scenario, annotations):
                continue
            index = SCENARIOS.index(scenario)
            seeds = [seed_of(base_seed, index, i) for i in range(runs)]
            for start in range(0, runs, CHUNK):
                chunk = tuple(seeds[start : start + CHUNK])
                result.append(Task(algorithm, scenario.name, chunk, annotations))
    return sorted(result, key=Task.cost, reverse=True)


def _scenario(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


def execute(task: Task) -> tuple[Task, list[Record]]:
    scenario = _scenario(task.scenario)
    factory = policy_factory(task.algorithm, scenario, task.annotations)
    return task, [run(scenario, factory, seed) for seed in task.seeds]


def run_all(
    work: Sequence[Task], workers: int, progress: Callable[[Task], None] | None = None
) -> dict[tuple[str, str], list[Record]]:
    """Scored runs per (algorithm, scenario)."""
    results: dict[tuple[str, str], list[Record]] = {}

    def collect(task: Task, records: list[Record]) -> None:
        results.setdefault((task.algorithm, task.scenario), []).extend(records)
        if progress is not None:
            progress(task)

    if workers <= 1:
        for task in work:
            collect(*execute(task))
        return results
    with get_context("fork").Pool(workers) as pool:
        for task, records in pool.imap_unordered(execute, work):
            collect(task, records)
    return results
