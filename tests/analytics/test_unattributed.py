"""Evidence rule 7: measurements that do not follow the split in force are not any version's.

The commonest cause is a query written without the version's selector (a label matcher on
`$name`, the version's name): every version is answered the totals over all of them, the
baseline's requests included. Before the rule, a candidate with 1.5% errors (limit 1%) looked compliant on
those totals and rode the increment cap to 98% (some 15,000 of its requests per run) while the
sample-ratio check held only its promotion. Now nothing gains traffic while the counts do not
follow the split, and totals answered for every version are no data (rule 3 ends them)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.adapter import AlgorithmPolicy
from bench.scenarios import SCENARIOS, Arm, Scenario
from bench.world import World
from iter8.analytics.algorithms.bayesian import ALGORITHM
from iter8.analytics.bayes import evidence
from iter8.analytics.bayes.settings import Settings
from iter8.analytics.bayes.srm import SrmResult

NEAR_LIMIT = next(s for s in SCENARIOS if s.name == "canary-unfiltered-query")  # 1.5% errors
FAR_OVER = dataclasses.replace(NEAR_LIMIT, arms=(Arm(), Arm(error=0.05)))


def drive(
    scenario: Scenario, seed: int, routed: list[int] | None = None
) -> tuple[list[list[int]], str, str]:
    """The splits one simulated experiment applied, its outcome and its last reason; `routed`:
    the split the router really applies, whatever the experiment asks for."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    world, policy = World(scenario, rng), AlgorithmPolicy(ALGORITHM, scenario, seed)
    splits = [policy.start()]
    action, reason = "continue", ""
    for iteration in range(1, scenario.max_iterations + 1):
        world.serve(routed or splits[-1])
        step = policy.step(iteration, world.snapshot())
        splits.append(step.weights)
        assert policy.last is not None
        action, reason = step.action, policy.last.decision.reason
        if action != "continue":
            break
    return splits, action, reason


@pytest.mark.parametrize("scenario", [NEAR_LIMIT, FAR_OVER], ids=["1.5% errors", "5% errors"])
def test_totals_answered_for_every_version_move_nothing_and_end_as_no_data(
    scenario: Scenario,
) -> None:
    ending = Settings().no_data_iterations
    for seed in range(40):
        splits, action, reason = drive(scenario, seed)
        assert max(s[1] for s in splits) == splits[0][1], (seed, splits)
        assert action == "rollback" and reason.startswith("no-data"), (seed, reason)
        assert len(splits) - 1 <= ending, (seed, splits)


def test_the_reasons_name_the_mismatch_and_the_missing_selector() -> None:
    _, _, reason = drive(NEAR_LIMIT, 0)
    assert "measured the very same as every other version (do its queries select it?)" in reason
    rng = np.random.default_rng(0)
    world, policy = World(NEAR_LIMIT, rng), AlgorithmPolicy(ALGORITHM, NEAR_LIMIT, 0)
    world.serve(policy.start())
    policy.step(1, world.snapshot())
    assert policy.last is not None
    waiting = policy.last.decision.reason
    assert "sample-ratio mismatch" in waiting and "label matcher on $name" in waiting
    held = policy.last.details["weights"]["held"]
    assert held["v2"] == f"{evidence.SAME_TOTALS}: split held"


def test_no_estimate_of_what_would_settle_it_while_nothing_is_any_version_s() -> None:
    """ "To settle" guesses the requests a version still needs; on the totals, more requests
    settle nothing, so no guess is offered (one said "≈ 6,750 more requests")."""
    for seed in range(5):
        rng = np.random.default_rng(seed)
        world, policy = World(NEAR_LIMIT, rng), AlgorithmPolicy(ALGORITHM, NEAR_LIMIT, seed)
        split = policy.start()
        for iteration in range(1, 4):
            world.serve(split)
            split = policy.step(iteration, world.snapshot()).weights
            assert policy.last is not None
            if policy.last.details["srm"].get("mismatch"):
                assert not policy.last.details.get("moreNeeded"), (seed, iteration)


def test_a_router_that_does_not_apply_the_split_holds_it_without_ending() -> None:
    """Counts per version that follow another split than the one in force: a mismatch, but
    each version's own evidence. Nothing gains; the experiment is not ended for it."""
    healthy = dataclasses.replace(NEAR_LIMIT, arms=(Arm(), Arm()), pooled=False)
    for seed in range(20):
        splits, action, reason = drive(healthy, seed, routed=[90, 10])
        assert max(s[1] for s in splits) == splits[0][1], (seed, splits)
        assert action != "promote" and not reason.startswith("no-data"), (seed, reason)


def test_a_split_that_is_followed_still_ramps() -> None:
    """The same healthy candidate, measured per version and routed as asked: it gains."""
    routed = dataclasses.replace(NEAR_LIMIT, arms=(Arm(), Arm()), pooled=False)
    for seed in range(10):
        splits, _, _ = drive(routed, seed)
        assert max(s[1] for s in splits) > splits[0][1], (seed, splits)


def _srm(observed: dict[str, float], mismatch: bool = True) -> SrmResult:
    return SrmResult(0.0 if mismatch else 0.5, mismatch, observed, dict.fromkeys(observed, 1.0))


def test_unattributed_evidence_may_take_traffic_from_a_candidate_never_give_it() -> None:
    names, current, caps = ["v1", "v2", "v3"], {"v1": 60, "v2": 20, "v3": 20}, [100, 100, 100]
    mismatch = _srm({"v1": 500.0, "v2": 300.0, "v3": 200.0})
    covered = evidence.attributed(dict.fromkeys(names, "complete"), mismatch)
    assert set(covered.values()) == {"unattributed"}
    gains, why = evidence.hold(names, [40, 40, 20], current, caps, covered, True, 2.0)
    assert gains == [60, 20, 20]
    assert "sample-ratio mismatch" in why["v2"]
    loses, _ = evidence.hold(names, [70, 10, 20], current, caps, covered, True, 2.0)
    assert loses == [70, 10, 20]
    assert evidence.attributed({"v1": "none", "v2": "complete"}, _srm({"v1": 9.0, "v2": 1.0})) == {
        "v1": "none",
        "v2": "unattributed",
    }
    assert evidence.attributed({"v1": "partial"}, _srm({"v1": 1.0}, mismatch=False)) == {
        "v1": "partial"
    }


def test_the_same_totals_for_every_version_are_no_version_s_evidence() -> None:
    complete = {"v1": "complete", "v2": "complete"}
    pooled = evidence.attributed(complete, _srm({"v1": 800.0, "v2": 800.0}))
    assert pooled == {"v1": "pooled", "v2": "pooled"}
    assert all(map(evidence.blank, pooled.values()))
    split, why = evidence.hold(
        ["v1", "v2"], [50, 50], {"v1": 98, "v2": 2}, [100, 100], pooled, True, 2
    )
    assert split == [98, 2]
    assert all(text.startswith(evidence.SAME_TOTALS) for text in why.values())
    # equal counts that follow the split (a round-robin 50/50) are each version's own
    assert evidence.attributed(complete, _srm({"v1": 800.0, "v2": 800.0}, mismatch=False)) == (
        complete
    )
