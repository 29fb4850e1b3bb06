"""One simulated experiment: a policy drives the world until it decides; then score the outcome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from bench.policy import Policy
from bench.scenarios import Scenario
from bench.world import World


@dataclass(frozen=True)
class Record:
    """One run, scored against the truth (decision-anchors.md §4)."""

    action: str
    chosen: str  # the promoted version, else the baseline
    iterations: int
    correct: bool
    false_promotion: bool
    missed_promotion: bool  # kept the baseline although a candidate was correct
    requests: float
    inferior_requests: float
    slo_violating_requests: float
    # a candidate no query had yet answered about got more weight than the first split gave it
    moved_without_data: bool = False

    @property
    def wrongful_rollback(self) -> bool:
        """Rolled back although a candidate was the correct choice."""
        return self.action == "rollback" and self.missed_promotion


def run(scenario: Scenario, make_policy: Callable[[int], Policy], seed: int) -> Record:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    world = World(scenario, rng)
    policy = make_policy(seed)
    weights = first = policy.start()
    served = np.zeros(len(scenario.arms))
    seen = [False] * len(scenario.arms)  # has any query about the version answered yet?
    moved = False
    action, chosen, iteration = "no-winner", scenario.versions[0], 0
    cap = max(scenario.max_iterations, _horizon(policy))
    while iteration < cap:
        span = _quiet(policy, iteration + 1)
        served += world.serve(weights, span)
        iteration += span
        snapshot = world.snapshot()
        seen = [s or snapshot.has_data(i) for i, s in enumerate(seen)]
        step = policy.step(iteration, snapshot)
        weights = step.weights
        moved = moved or any(not seen[i] and weights[i] > first[i] for i in range(1, len(weights)))
        if step.action != "continue":
            action = step.action
            if step.action == "promote" and step.version is not None:
                chosen = step.version
            break
    return replace(score(scenario, action, chosen, iteration, served), moved_without_data=moved)


def _horizon(policy: Policy) -> int:
    return int(getattr(policy, "horizon", 0))


def _quiet(policy: Policy, iteration: int) -> int:
    """Intervals from `iteration` on that the policy will neither look at nor re-weight (the
    fixed-horizon test until its horizon): simulated in one draw."""
    quiet = getattr(policy, "quiet", None)
    return max(1, int(quiet(iteration))) if quiet is not None else 1


def score(
    scenario: Scenario, action: str, chosen: str, iterations: int, served: np.ndarray
) -> Record:
    correct_version = scenario.correct
    baseline = scenario.versions[0]
    inferior = np.array(scenario.inferior())
    violating = np.array([not a.feasible for a in scenario.arms])
    return Record(
        action=action,
        chosen=chosen,
        iterations=iterations,
        correct=chosen == correct_version,
        false_promotion=chosen != baseline and scenario.bad_promotion(chosen),
        missed_promotion=chosen == baseline and correct_version != baseline,
        requests=float(served.sum()),
        inferior_requests=float(served[inferior].sum()),
        slo_violating_requests=float(served[violating].sum()),
    )
