"""The routing model (`iter8.routing.traffic_model`): Istio and Gateway API routing semantics as
documented, not Envoy. Properties over many seeds: segment isolation, tag pinning, stickiness."""

from __future__ import annotations

import copy

import pytest

from iter8.routing.traffic_model import User, served, switched_share
from tests.e2e.builders import knative_service
from tests.e2e_kube.traffic import (
    SEGMENT_HEADER,
    segment_http_route,
    segment_virtual_service,
)

SEEDS = range(20)
RAMP = [(100, 0), (90, 10), (70, 30), (50, 50)]


def beta(n: int) -> list[User]:
    return [User(headers={SEGMENT_HEADER: "beta"}) for _ in range(n)]


def others(n: int) -> list[User]:
    return [User(headers={SEGMENT_HEADER: "other"}) for _ in range(n)] + [User() for _ in range(n)]


@pytest.mark.parametrize(
    ("kind", "make"), [("istio", segment_virtual_service), ("gateway-api", segment_http_route)]
)
def test_only_segment_users_are_split(kind: str, make) -> None:  # type: ignore[no-untyped-def]
    states = [make("ns", w) for w in RAMP]
    for seed in SEEDS:
        assert {v for seen in served(kind, states, others(50), 3, seed) for v in seen} == {"v1"}
    half = [make("ns", (50, 50))]
    seen = [v for s in served(kind, half, beta(400), 5, 0) for v in s]
    assert seen.count("v2") / len(seen) == pytest.approx(0.5, abs=0.05)


def test_a_knative_tag_header_pins_a_user_to_its_version() -> None:
    states = [knative_service("app", list(w), "ns") for w in RAMP]
    pinned = [User(headers={"knative-serving-tag": "v2"}) for _ in range(50)]
    for seed in SEEDS:
        assert {v for s in served("knative", states, pinned, 3, seed) for v in s} == {"v2"}


def cohorts(states: list[dict], seed: int) -> list[list[str | None]]:
    seen: list[list[str | None]] = []
    for start in range(len(states)):
        seen += served("gateway-api", states[start:], beta(50), 3, seed + 100 * start)
    return seen


def test_gateway_session_persistence_keeps_every_user_on_its_first_version() -> None:
    sticky = [segment_http_route("ns", w) for w in RAMP]
    loose = copy.deepcopy(sticky)
    for state in loose:
        del state["spec"]["rules"][0]["sessionPersistence"]
    shares = [switched_share(cohorts(loose, seed)) for seed in SEEDS]
    assert all(switched_share(cohorts(sticky, seed)) == 0.0 for seed in SEEDS)
    assert min(shares) > 0.2, shares  # without it, many users see both versions
    # new users follow the new split: the last cohort is split about 50/50
    last = served("gateway-api", sticky[-1:], beta(400), 3, 0)
    firsts = [s[0] for s in last]
    assert firsts.count("v2") / len(firsts) == pytest.approx(0.5, abs=0.07)
