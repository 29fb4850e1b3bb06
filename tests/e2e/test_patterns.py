"""Each testing pattern (Conformance, Canary, A/B, A/B/N) and rollback, with both algorithms,
through the real embedded stack: broker from `eventing/config/`, four function processes, the
ApiServerSource and PingSource, the console sink. All experiments of this module run at once on
one stack (as they would on one cluster); each test waits for its own and checks the final
status, the routed object, the finish action and the events the sink received."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from iter8.api.experiment import Experiment
from iter8.demo.app import Behaviour, SampleApp
from iter8.events import ExperimentRef
from iter8.lifecycle.status import is_true
from tests.e2e.cases import ALGORITHMS, MOCK_ITERATIONS, Apps, Case, all_cases, split_of
from tests.e2e.harness import Harness, Sent


@dataclass
class Launched:
    harness: Harness
    cases: dict[str, Case]
    refs: dict[str, ExperimentRef]

    def finish(self, name: str) -> tuple[Case, Experiment, list[Sent]]:
        """The case, its experiment once Completed, and its events once the last one is out."""
        case = self.cases[name]
        final = self.harness.wait(self.refs[name], timeout=90)
        events = self.harness.wait_for_event(self.refs[name], case.event)
        return case, final, events


@pytest.fixture(scope="module")
def apps() -> Iterator[Apps]:
    servers = {
        "fast": SampleApp("fast", Behaviour(latency_ms=2, error_rate=0), seed=1),
        "slow": SampleApp("slow", Behaviour(latency_ms=20, error_rate=0), seed=2),
        "failing": SampleApp("failing", Behaviour(latency_ms=2, error_rate=0.6), seed=3),
    }
    for server in servers.values():
        server.start()
    yield Apps(**{name: server.url for name, server in servers.items()})
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def launched(apps: Apps, shared: Harness, tmp_path_factory: pytest.TempPathFactory) -> Launched:
    """Every case submitted at once; they run side by side while the tests wait in turn."""
    cases = all_cases(apps, tmp_path_factory.mktemp("patterns"))
    refs = {case.name: shared.submit(*case.objects) for case in cases}
    return Launched(shared, {case.name: case for case in cases}, refs)


def check_outcome(launched: Launched, name: str) -> tuple[Case, Experiment, list[Sent]]:
    """What every pattern must end in: Completed, not Failed, the decision and the winner
    recorded, the split and the routed object at 100% for the kept version, the finish action
    run, and one terminal event plus one `weights.applied` per completed iteration."""
    case, final, events = launched.finish(name)
    status = final.status
    assert status is not None
    assert status.stage == "Completed", status.message
    assert is_true(status, "Completed") and not is_true(status, "Failed"), status.conditions
    completed = next(c for c in status.conditions or [] if c.type == "Completed")
    assert completed.reason == "ExperimentCompleted"

    analysis = status.analysis
    assert analysis is not None and analysis.decision is not None
    assert analysis.decision["action"] == case.action, analysis.decision
    assert analysis.decision.get("version") == case.keep, analysis.decision
    assert analysis.iteration == status.completed_iterations  # the last one concluded, and counts
    for block in ("aggregated_metrics", "version_assessments", "winner_assessment", "weights"):
        assert getattr(analysis, block) is not None, f"status.analysis.{block} is missing"
    assert analysis.aggregated_metrics is not None and analysis.aggregated_metrics.data
    assert status.version_recommended_for_promotion == case.keep

    expected = {v: 100 if v == case.keep else 0 for v in case.versions}
    if case.routed is not None:
        split = {w.name: w.value for w in status.current_weight_distribution or []}
        assert split == expected, "status.currentWeightDistribution"
        resource, object_name = case.routed
        assert split_of(launched.harness.get(resource, "default", object_name)) == expected

    assert case.finish_file is not None and case.finish_file.exists(), "the finish action ran"
    assert case.finish_file.read_text().strip() == case.keep

    terminal = [e for e in events if e.event.startswith("experiment.")]
    assert [e.event for e in terminal] == [case.event], events
    applied = [e for e in events if e.event == "weights.applied"]
    assert [e.iteration for e in applied] == list(range(1, status.completed_iterations or 0))
    for event in applied:
        assert sum(event.weights.values()) == 100, event
    return case, final, events


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_conformance_promotes_the_one_version_that_meets_its_objectives(
    launched: Launched, algorithm: str
) -> None:
    _, final, _ = check_outcome(launched, f"conformance-{algorithm}")
    status = final.status
    assert status is not None and status.analysis is not None
    assert status.analysis.winner_assessment is not None
    assert status.analysis.winner_assessment.data["winner"] == "v1"
    assert status.analysis.version_assessments is not None
    assert status.analysis.version_assessments.data == {"v1": [True, True]}
    # what metrics/collect measured is kept, in Iter8 v2's shape
    hists = status.analysis.aggregated_builtin_hists
    assert hists is not None and hists.data["v1"]["DurationHistogram"]["Count"] >= 40


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_canary_promotes_the_candidate(launched: Launched, algorithm: str) -> None:
    _, final, events = check_outcome(launched, f"canary-{algorithm}")
    status = final.status
    assert status is not None and status.analysis is not None
    if algorithm == "iter8-v2":
        # no early stop; the split moves 10 points an iteration, each iteration applied once
        assert status.analysis.iteration == MOCK_ITERATIONS
        applied = [e.weights for e in events if e.event == "weights.applied"]
        steps = range(1, MOCK_ITERATIONS)
        assert applied == [{"v1": 100 - 10 * i, "v2": 10 * i} for i in steps]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_ab_promotes_the_version_with_the_better_reward(launched: Launched, algorithm: str) -> None:
    _, final, _ = check_outcome(launched, f"ab-{algorithm}")
    status = final.status
    assert status is not None and status.analysis is not None
    metrics = status.analysis.aggregated_metrics
    assert metrics is not None
    assert set(metrics.data[f"default/ab-{algorithm}-engagement"]["data"]) == {"v1", "v2"}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_abn_promotes_the_best_feasible_of_three(launched: Launched, algorithm: str) -> None:
    _, final, _ = check_outcome(launched, f"abn-{algorithm}")
    status = final.status
    assert status is not None and status.analysis is not None
    assessments = status.analysis.version_assessments
    assert assessments is not None
    assert assessments.data["v3"] == [False]  # the best reward, but too slow
    assert assessments.data["v2"] == [True]
    split = [w.name for w in status.current_weight_distribution or []]
    assert split == ["v1", "v2", "v3"]  # keyed by name, in version order


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("kind", ["rollback", "measured-rollback"])
def test_rollback_sends_all_traffic_back_to_the_baseline(
    launched: Launched, kind: str, algorithm: str
) -> None:
    case, final, _ = check_outcome(launched, f"{kind}-{algorithm}")
    assert case.start == {"v1": 80, "v2": 20}  # the candidate had traffic before
    status = final.status
    assert status is not None and status.analysis is not None
    assert status.analysis.decision is not None
    assert "rollback_on_failure" in status.analysis.decision["reason"]
    assert status.message is not None and "rolled back" in status.message


@pytest.mark.parametrize("algorithm", ["bayesian", "iter8-v2"])
def test_measured_canary_promotes_the_faster_candidate(launched: Launched, algorithm: str) -> None:
    _, final, _ = check_outcome(launched, f"measured-canary-{algorithm}")
    status = final.status
    assert status is not None and status.analysis is not None
    hists = status.analysis.aggregated_builtin_hists
    assert hists is not None and set(hists.data) == {"v1", "v2"}


def test_no_event_was_dead_lettered(launched: Launched) -> None:
    for ref in launched.refs.values():
        launched.harness.wait(ref, timeout=90)
    assert launched.harness.dead_letters() == ""


def test_every_case_is_tested(tmp_path: Path) -> None:
    """A guard for the table itself: every case is exercised by one of the tests above."""
    names = {c.name for c in all_cases(Apps("http://a", "http://b", "http://c"), tmp_path)}
    tested = {
        f"{kind}-{a}"
        for a in ALGORITHMS
        for kind in (
            "conformance",
            "canary",
            "ab",
            "abn",
            "rollback",
            "measured-rollback",
            "measured-canary",
        )
    }
    assert names == tested
