"""The embedded router's pure core (`iter8.dataplane.table`): weights honoured over many seeded
draws, header and cookie matches, mirror percentages, session cookies that hold while the split
moves, and objects that route nowhere (a 503, never a crash)."""

from __future__ import annotations

import copy
import math
import random

import pytest

from iter8.dataplane.table import (
    DEFAULT_SESSION_COOKIE,
    Facts,
    RouteTable,
    UnroutableObject,
    choose,
    route_table,
)
from iter8.demo.experiment import BASELINE, CANDIDATE, knative_service
from iter8.demo.scenarios import (
    SEGMENT_HEADER,
    SESSION_COOKIE,
    http_route,
    mirrored_virtual_service,
    segment_virtual_service,
)

UPSTREAMS = {BASELINE: "http://127.0.0.1:1", CANDIDATE: "http://127.0.0.1:2"}
SEEDS = range(20)
BETA = Facts(headers={SEGMENT_HEADER[0]: SEGMENT_HEADER[1]})


def knative(weights: tuple[int, int]) -> dict:  # type: ignore[type-arg]
    obj = knative_service()
    for entry, weight in zip(obj["spec"]["traffic"], weights, strict=True):
        entry["percent"] = weight
    return obj


def segment(weights: tuple[int, int]) -> dict:  # type: ignore[type-arg]
    obj = segment_virtual_service()
    for entry, weight in zip(obj["spec"]["http"][0]["route"], weights, strict=True):
        entry["weight"] = weight
    return obj


def draws(seed: int, n: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(rng.random(), rng.random()) for _ in range(n)]


def share(table: RouteTable, facts: Facts, seed: int, n: int, backend: str = CANDIDATE) -> float:
    return sum(choose(table, facts, d).backend == backend for d in draws(seed, n)) / n


@pytest.mark.parametrize(
    ("make", "facts"),
    [(knative, Facts()), (segment, BETA), (lambda w: http_route(w), Facts())],
    ids=["knative", "istio-segment", "gateway-api"],
)
@pytest.mark.parametrize("weights", [(90, 10), (50, 50), (20, 80)])
def test_weights_are_honoured_over_many_seeded_draws(make, facts, weights) -> None:  # type: ignore[no-untyped-def]
    """Every seed's share within 4 standard errors of the weight, and their mean within 1."""
    table = route_table(make(weights), UPSTREAMS)
    p, n = weights[1] / 100, 2000
    shares = [share(table, facts, seed, n) for seed in SEEDS]
    error = math.sqrt(p * (1 - p) / n)
    assert all(abs(s - p) < 4 * error for s in shares), shares
    assert abs(sum(shares) / len(shares) - p) < error


def test_only_the_segment_is_split() -> None:
    table = route_table(segment((0, 100)), UPSTREAMS)
    others = [Facts(), Facts(headers={SEGMENT_HEADER[0]: "other"}), Facts(cookies={"a": "beta"})]
    for facts in others:
        assert {choose(table, facts, d).backend for d in draws(0, 200)} == {BASELINE}
    assert {choose(table, BETA, d).backend for d in draws(0, 200)} == {CANDIDATE}


def test_istio_cookie_matches_read_the_cookie_header() -> None:
    obj = segment((0, 100))
    obj["spec"]["http"][0]["match"] = [{"headers": {"cookie": {"regex": ".*group=beta.*"}}}]
    table = route_table(obj, UPSTREAMS)
    assert (
        choose(table, Facts(cookies={"group": "beta", "x": "1"}), (0.5, 0.5)).backend == CANDIDATE
    )
    assert choose(table, Facts(cookies={"group": "alpha"}), (0.5, 0.5)).backend == BASELINE


def test_gateway_header_matches_take_the_most_specific_rule() -> None:
    obj = http_route((100, 0))
    obj["spec"]["rules"].append(
        {
            "matches": [{"headers": [{"name": "x-test", "value": "true"}]}],
            "backendRefs": [{"name": CANDIDATE, "port": 80}],
        }
    )
    table = route_table(obj, UPSTREAMS)
    assert choose(table, Facts(headers={"x-test": "true"}), (0.1, 0.1)).backend == CANDIDATE
    assert choose(table, Facts(headers={"x-test": "no"}), (0.1, 0.1)).backend == BASELINE


def test_a_knative_tag_header_reaches_its_revision_at_zero_percent() -> None:
    table = route_table(knative((100, 0)), UPSTREAMS)
    tagged = Facts(headers={"knative-serving-tag": "candidate"})
    assert {choose(table, tagged, d).backend for d in draws(1, 100)} == {CANDIDATE}
    assert {choose(table, Facts(), d).backend for d in draws(1, 100)} == {BASELINE}


@pytest.mark.parametrize("percent", [0, 5, 50, 100])
def test_the_mirror_copies_its_percentage(percent: int) -> None:
    obj = mirrored_virtual_service()
    obj["spec"]["http"][0]["mirrorPercentage"] = {"value": float(percent)}
    table = route_table(obj, UPSTREAMS)
    n, p = 2000, percent / 100
    for seed in SEEDS:
        decisions = [choose(table, Facts(), d) for d in draws(seed, n)]
        assert {d.backend for d in decisions} == {BASELINE}  # users stay on the baseline
        mirrored = sum(d.mirror == CANDIDATE for d in decisions) / n
        assert abs(mirrored - p) <= 4 * math.sqrt(p * (1 - p) / n)


def test_gateway_request_mirror_with_a_fraction() -> None:
    obj = http_route((100, 0))
    mirror = {"backendRef": {"name": CANDIDATE, "port": 80}, "fraction": {"numerator": 1}}
    obj["spec"]["rules"][0]["filters"] = [{"type": "RequestMirror", "requestMirror": mirror}]
    table = route_table(obj, UPSTREAMS)
    assert choose(table, Facts(), (0.5, 0.005)).mirror == CANDIDATE  # 1% = 1/100
    assert choose(table, Facts(), (0.5, 0.02)).mirror is None
    assert choose(table, Facts(), (0.5, 0.005)).mirror_upstream == UPSTREAMS[CANDIDATE]


def test_a_session_cookie_holds_while_the_split_moves() -> None:
    """The cookie a first answer sets keeps its user on that version through every split that
    still references it; a user without it follows the split."""
    ramp = [http_route(w, sticky=True) for w in [(100, 0), (90, 10), (50, 50), (0, 100)]]
    first = choose(route_table(ramp[0], UPSTREAMS), Facts(), (0.3, 0.5))
    assert first.backend == BASELINE and first.cookie == (SESSION_COOKIE, BASELINE)
    for seed in SEEDS:
        for obj in ramp:
            table = route_table(obj, UPSTREAMS)
            for d in draws(seed, 50):
                assert choose(table, Facts(cookies=dict([first.cookie])), d).backend == BASELINE
    moved = route_table(ramp[-1], UPSTREAMS)
    assert choose(moved, Facts(), (0.3, 0.5)).backend == CANDIDATE


def test_a_session_cookie_for_a_backend_the_rule_dropped_is_replaced() -> None:
    obj = http_route((100, 0), sticky=True)
    obj["spec"]["rules"][0]["backendRefs"].pop(1)
    table = route_table(obj, UPSTREAMS)
    decision = choose(table, Facts(cookies={SESSION_COOKIE: CANDIDATE}), (0.5, 0.5))
    assert decision.backend == BASELINE and decision.cookie == (SESSION_COOKIE, BASELINE)


def test_no_cookie_without_session_persistence_and_a_default_name_with_it() -> None:
    assert choose(route_table(http_route((50, 50)), UPSTREAMS), Facts(), (0.1, 0.1)).cookie is None
    obj = http_route((50, 50), sticky=True)
    del obj["spec"]["rules"][0]["sessionPersistence"]["sessionName"]
    cookie = choose(route_table(obj, UPSTREAMS), Facts(), (0.1, 0.1)).cookie
    assert cookie == (DEFAULT_SESSION_COOKIE, BASELINE)


def broken(obj: dict, path: str, value: object) -> dict:  # type: ignore[type-arg]
    obj = copy.deepcopy(obj)
    *parents, last = path.split(".")
    target = obj
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[int(last) if last.isdigit() else last] = value
    return obj


@pytest.mark.parametrize(
    "obj",
    [
        broken(segment((100, 0)), "spec.http.1.route.0.destination.host", "nobody-listens"),
        broken(segment((100, 0)), "spec.http", "not a list"),
        broken(segment((100, 0)), "spec.http.1.route.0", {"weight": 100}),
        broken(knative((100, 0)), "spec.traffic.0.percent", "abc"),
        broken(knative((0, 0)), "spec.traffic.0.percent", 0),
        broken(http_route((100, 0)), "spec.rules.0.backendRefs", None),
        broken(http_route((100, 0)), "spec.rules.0.filters", [{"type": "RequestMirror"}]),
        broken(knative((100, 0)), "spec", "nothing"),
    ],
    ids=[
        "unknown-host",
        "http-not-a-list",
        "no-destination",
        "percent-not-a-number",
        "all-weights-zero",
        "no-backends",
        "mirror-without-backend",
        "spec-not-an-object",
    ],
)
def test_an_object_that_routes_nowhere_is_a_503_not_a_crash(obj: dict) -> None:  # type: ignore[type-arg]
    decision = choose(route_table(obj, UPSTREAMS), Facts(), (0.5, 0.5))
    assert decision.backend is None and decision.upstream is None and decision.cookie is None


def test_an_unknown_mirror_host_is_not_mirrored() -> None:
    obj = broken(mirrored_virtual_service(), "spec.http.0.mirror.host", "nobody-listens")
    decision = choose(route_table(obj, UPSTREAMS), Facts(), (0.5, 0.0))
    assert decision.backend == BASELINE and decision.mirror is None


def test_a_fully_qualified_host_finds_its_upstream() -> None:
    obj = broken(segment((0, 100)), "spec.http.0.route.1.destination.host", f"{CANDIDATE}.ns.svc")
    assert choose(route_table(obj, UPSTREAMS), BETA, (0.5, 0.5)).upstream == UPSTREAMS[CANDIDATE]


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(UnroutableObject, match=r"split\.smi-spec\.io/v1alpha2 TrafficSplit"):
        route_table({"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit"}, {})
