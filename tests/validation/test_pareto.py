"""`testingPattern: Pareto` with several rewards is accepted; with fewer than two it is refused;
Iter8 v2's patterns keep their exact reward counts."""

from __future__ import annotations

from tests.validation.test_invalid import Manifest, problems_of, valid_canary

REWARDS = [
    {"metric": "iter8-system/mean-latency", "preferredDirection": "Low"},
    {"metric": "iter8-system/error-rate", "preferredDirection": "Low"},
]


def pareto(rewards: list[dict[str, str]]) -> Manifest:
    manifest = valid_canary()
    manifest["spec"]["strategy"]["testingPattern"] = "Pareto"
    manifest["spec"]["criteria"]["rewards"] = rewards
    return manifest


def test_pareto_with_two_rewards_is_valid() -> None:
    assert problems_of(pareto(REWARDS)) == []


def test_pareto_with_one_reward_names_the_rewards_field() -> None:
    found = problems_of(pareto(REWARDS[:1]))
    assert found == [
        "spec.criteria.rewards: a Pareto experiment needs at least 2 reward(s), found 1"
    ]


def test_ab_still_takes_exactly_one_reward() -> None:
    manifest = pareto(REWARDS)
    manifest["spec"]["strategy"]["testingPattern"] = "A/B"
    assert problems_of(manifest) == [
        "spec.criteria.rewards: a A/B experiment needs exactly 1 reward(s), found 2"
    ]
