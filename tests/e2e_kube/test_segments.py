"""User segments and sticky sessions end to end: a Progressive experiment on the real API server
ramps the split of one segment's route (Istio `match` route, Gateway API rule matching a header,
with cookie session persistence); every state the object went through is then replayed through
`iter8.routing.traffic_model` — a model of Istio's and Gateway API's documented routing, not of
Envoy — with simulated users: those outside the segment never leave v1 (before, during, after),
segment users follow the ramp, and with session persistence none of them switches version while
the experiment runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from iter8.routing.traffic_model import User, served, switched_share
from tests.e2e_kube.test_patterns import changes, drive
from tests.e2e_kube.traffic import SEGMENT_HEADER, SEGMENTS, Object

pytestmark = pytest.mark.kube

OTHER_USERS = [User(headers={SEGMENT_HEADER: "gamma"}) for _ in range(100)] + [
    User() for _ in range(100)
]


def cohorts(name: str, states: list[Object], size: int, seed: int) -> list[list[str | None]]:
    """What segment users saw, a new cohort of `size` arriving at each state (new users follow
    the split in force; those already there keep what persistence gave them)."""
    seen: list[list[str | None]] = []
    for start in range(len(states)):
        users = [User(headers={SEGMENT_HEADER: "beta"}) for _ in range(size)]
        seen += served(name, states[start:], users, requests=3, seed=seed + start)
    return seen


@pytest.mark.parametrize("name", sorted(SEGMENTS))
def test_only_the_segment_is_split_and_sticky_users_never_switch(
    name: str,
    kube_config: str,
    kube_client: client.ApiClient,
    kube_namespace: str,
    traffic_crds: list[str],
    tmp_path: Path,
) -> None:
    target = SEGMENTS[name]
    states: list[Object] = []
    output, splits, final = drive(
        target, kube_config, kube_namespace, tmp_path, "Progressive", (100, 0), 50, states=states
    )
    assert output["status"]["analysis"]["decision"]["action"] == "promote", output["status"]
    ramp = changes(splits)
    assert ramp[0] == (100, 0) and ramp[-1] == (0, 100) and len(ramp) > 2, ramp
    others = served(name, states, OTHER_USERS, requests=5, seed=1)
    assert {v for seen in others for v in seen} == {"v1"}  # before, during and after
    segment = cohorts(name, states, 40, seed=1)
    assert {v for seen in segment for v in seen} == {"v1", "v2"}
    if name == "gateway-api":  # sessionPersistence survived on the server, and pins users
        assert final["spec"]["rules"][0]["sessionPersistence"]["sessionName"] == "app-session"
        during = states[:-1]  # the promotion's 100% is not the experiment's ramp
        assert switched_share(cohorts(name, during, 40, seed=2)) == 0.0
        for state in during:
            del state["spec"]["rules"][0]["sessionPersistence"]
        unpinned = switched_share(cohorts(name, during, 40, seed=2))
        assert unpinned > 0.1, unpinned  # the same ramp without persistence: users switch
