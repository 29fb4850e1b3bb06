"""Any `iter8.analytics` algorithm as a bench policy, driven exactly as the analyze function
drives it: the experiment's status carries the split in force, the iteration count and the last
analysis (with the algorithm's `details`), and each step sees only this iteration's queries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.policy import Step
from bench.scenarios import ERROR_LIMIT, P95_LIMIT, Scenario
from bench.world import (
    ERRORS,
    P95,
    REQUESTS,
    REWARD_METRICS,
    Snapshot,
    metric_definitions,
    observations,
)
from iter8.analytics.algorithm import Algorithm, AnalysisInput, AnalysisResult
from iter8.api.defaults import with_defaults
from iter8.api.experiment import (
    Analysis,
    AnalysisBlock,
    Experiment,
    ExperimentStatus,
    VersionWeight,
)


def experiment_for(scenario: Scenario, annotations: Mapping[str, str] | None = None) -> Experiment:
    """The Experiment a user would write for the scenario; Iter8's default weights apply;
    `annotations` on it as a user would set them (an algorithm's settings, e.g.
    `iter8.tools/bayesian.alpha`)."""
    names = scenario.versions
    criteria: dict[str, Any] = {} if scenario.bare else {"requestCount": REQUESTS}
    criteria["objectives"] = [  # (a backend of bare values has no request count)
        {"metric": ERRORS, "upperLimit": str(ERROR_LIMIT)},
        {"metric": P95, "upperLimit": P95_LIMIT},
    ]
    if scenario.pattern != "Canary":
        criteria["rewards"] = [
            {"metric": REWARD_METRICS[r], "preferredDirection": "High"} for r in scenario.rewards
        ]
    duration: dict[str, Any] = {"iterationsPerLoop": scenario.max_iterations, "maxLoops": 1}
    if scenario.interval_seconds is not None:
        duration["intervalSeconds"] = scenario.interval_seconds
    manifest = {
        "metadata": {
            "name": scenario.name,
            "namespace": "bench",
            "annotations": dict(annotations or {}),
        },
        "spec": {
            "target": "bench/app",
            "strategy": {"testingPattern": scenario.pattern},
            "criteria": criteria,
            "duration": duration,
            "versionInfo": {
                "baseline": {"name": names[0]},
                "candidates": [{"name": n} for n in names[1:]],
            },
        },
    }
    return with_defaults(Experiment.from_wire(manifest))


class AlgorithmPolicy:
    def __init__(
        self,
        algorithm: Algorithm,
        scenario: Scenario,
        seed: int,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        self.algorithm = algorithm
        self.scenario = scenario
        self.seed = seed
        self.names = scenario.versions
        self.base = experiment_for(scenario, annotations)
        self.metrics = metric_definitions(scenario)
        self.weights: list[int] = []
        self.last: AnalysisResult | None = None

    def start(self) -> list[int]:
        """What the algorithm makes of no data at all (the init → analyze step)."""
        result = self._analyze(0, {})
        self.weights = self._weights(result, [100] + [0] * (len(self.names) - 1))
        return self.weights

    def step(self, iteration: int, snapshot: Snapshot) -> Step:
        result = self._analyze(iteration - 1, observations(snapshot, self.names))
        self.last = result
        self.weights = self._weights(result, self.weights)
        decision = result.decision
        if decision.action == "continue" and iteration >= self.scenario.max_iterations:
            return Step("no-winner", self.weights)
        return Step(decision.action, self.weights, decision.version)

    def _analyze(self, completed: int, observed: dict) -> AnalysisResult:  # type: ignore[type-arg]
        status = ExperimentStatus(
            completed_iterations=completed,
            current_weight_distribution=[
                VersionWeight(name=n, value=w)
                for n, w in zip(self.names, self.weights, strict=True)
            ]
            if self.weights
            else None,
            analysis=self._analysis(),
        )
        experiment = self.base.model_copy(update={"status": status})
        seed = self.seed * 1009 + completed
        # the simulated queries' `$elapsedTime` (`bench.world`): every interval lasts as long
        elapsed = float((completed + 1) * self.scenario.interval)
        return self.algorithm.analyze(
            AnalysisInput(experiment, self.metrics, observed, seed, elapsed_seconds=elapsed)
        )

    def _analysis(self) -> Analysis | None:
        if self.last is None:
            return None
        # details go back only when the algorithm keeps state in them (as `bayesian` does): the
        # others never read them, and copying them would only slow the simulation down
        carried = self.last.details if "state" in self.last.details else None
        return Analysis(
            aggregated_metrics=AnalysisBlock(data=self.last.aggregated_metrics), details=carried
        )

    @staticmethod
    def _weights(result: AnalysisResult, fallback: list[int]) -> list[int]:
        return [w.value for w in result.weights] if result.weights else fallback
