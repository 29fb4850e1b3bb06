"""Values since the start, read as what each iteration added (`bayes.cumulative`).

A backend of bare values queried over `[${elapsedTime}s]` answers cumulative values. Taken as
independent draws, a canary's first values (its first 2% of one iteration's requests) stayed
in the spread: 13.5% of healthy canaries ended `no-winner` at the horizon. Their increments,
weighted by the version's share of the traffic, are independent draws (`bayes.iterations`)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from bench.adapter import AlgorithmPolicy, experiment_for
from bench.scenarios import SCENARIOS, Arm, Scenario
from bench.world import ERRORS, World, metric_definitions, observations
from iter8.analytics.algorithm import AnalysisInput
from iter8.analytics.algorithms.bayesian import ALGORITHM
from iter8.analytics.assessment import status_analysis
from iter8.analytics.bayes import cumulative
from iter8.analytics.bayes.iterations import Series, log_bayes_factor, radius
from iter8.analytics.bayes.state import Carried, Known, previous
from iter8.api.experiment import Experiment
from iter8.api.metric import Metric

BARE = next(s for s in SCENARIOS if s.name == "canary-bare-values")
BARE_SLIGHT = next(s for s in SCENARIOS if s.name == "canary-bare-errors-slight")


def metric(spec: dict[str, object], annotations: dict[str, str] | None = None) -> Metric:
    meta: dict[str, object] = {"name": "m", "namespace": "ns"}
    if annotations:
        meta["annotations"] = annotations
    return Metric.from_wire({"metadata": meta, "spec": spec})


@pytest.mark.parametrize(
    ("spec", "annotations", "expected"),
    [
        ({"params": [{"name": "query", "value": "sum(x[${elapsedTime}s])"}]}, None, True),
        ({"urlTemplate": "http://127.0.0.1/m?since=$elapsedTime"}, None, True),
        ({"body": '{"window": "${elapsedTime}s"}', "method": "POST"}, None, True),
        ({"params": [{"name": "query", "value": "sum(x[${elapsedTime}s])"}]}, "false", False),
        ({"params": [{"name": "query", "value": "rate(x[1m])"}]}, None, False),
        ({"params": [{"name": "query", "value": "rate(x[1m])"}]}, "true", True),
        ({"mock": [{"name": "v1", "level": "15"}]}, None, False),
    ],
)
def test_a_value_is_cumulative_when_its_metric_says_so(
    spec: dict[str, object], annotations: str | None, expected: bool
) -> None:
    given = {cumulative.ANNOTATION: annotations} if annotations else None
    assert cumulative.is_cumulative(metric(spec, given)) is expected
    assert cumulative.is_cumulative(None) is False


def test_increments_recover_each_iterations_own_mean() -> None:
    """Steady traffic: the value since the start is the share-weighted mean of the iterations'
    own means, and the increments give each of them back, weighted by its share."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        shares = rng.uniform(0.01, 1.0, 12)
        own = rng.normal(5.0, 2.0, 12)
        exposure = np.cumsum(shares)
        since_start = np.cumsum(shares * own) / exposure
        last, exposed = None, None
        for i in range(12):
            step = cumulative.increment(since_start[i], exposure[i], last, exposed)
            assert step is not None
            assert step[0] == pytest.approx(own[i], rel=1e-9, abs=1e-9)
            assert step[1] == pytest.approx(shares[i])
            last, exposed = since_start[i], exposure[i]
    assert cumulative.increment(4.0, 2.0, 3.0, 2.0) is None  # no traffic since: nothing added
    assert cumulative.increment(4.0, 0.0, None, None) is None


def test_exposures_add_the_split_in_force_or_an_equal_one() -> None:
    got = cumulative.exposures({"v1": 1.5}, {"v1": 0.9, "v2": 0.1}, ["v1", "v2"])
    assert got == pytest.approx({"v1": 2.4, "v2": 0.1})
    assert cumulative.exposures({}, None, ["a", "b", "c", "d"]) == pytest.approx(
        dict.fromkeys("abcd", 0.25)
    )


def test_weighted_series_matches_the_weighted_mean_and_variance() -> None:
    rng = np.random.default_rng(5)
    values, weights = rng.normal(2.0, 1.0, 30), rng.uniform(0.05, 3.0, 30)
    series = Series()
    for x, w in zip(values, weights, strict=True):
        series = series.add(float(x), float(w))
    mean = np.average(values, weights=weights)
    assert series.mean == pytest.approx(mean)
    assert series.weight == pytest.approx(weights.sum())
    assert series.squares == pytest.approx(float((weights * (values - mean) ** 2).sum()))
    plain = Series()
    for x in values:
        plain = plain.add(float(x))
    assert plain.weight == 30 and plain.sd == pytest.approx(np.std(values, ddof=1))
    assert plain.scale == pytest.approx(np.std(values, ddof=1) / math.sqrt(30))


def test_the_weighted_confidence_sequence_covers_at_every_look() -> None:
    """Values of variance σ²/w_i, the weights known before each value (as a share is): the
    level stays inside the 95% sequence at all 30 looks in ≥ 95% of runs."""
    rng = np.random.default_rng(17)
    runs, misses = 1000, 0
    for _ in range(runs):
        series, missed = Series(), False
        for _ in range(30):
            w = float(rng.choice([0.02, 0.1, 0.5, 1.0]))
            series = series.add(float(rng.normal(5.0, 3.0 / math.sqrt(w))), w)
            missed |= abs(series.mean - 5.0) > radius(series, 0.05)
        misses += missed
    assert misses / runs <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs)
    assert log_bayes_factor(Series().add(1.0, 0.3), 0.0) == 0.0  # one value: no evidence


def test_weights_of_one_are_the_unweighted_test() -> None:
    """Every value of weight 1: the Bayes factor of the unweighted one-sample t-test."""
    values = [4.1, 5.3, 4.8, 6.0, 5.1]
    series = Series()
    for x in values:
        series = series.add(x)
    k, g, m = len(values), 4.0, 3.0
    y = np.array(values) - m
    expected = -0.5 * math.log1p(k * g) - 0.5 * k * math.log1p(
        -g * y.sum() ** 2 / ((1 + k * g) * (y**2).sum())
    )
    assert log_bayes_factor(series, m) == pytest.approx(expected)


def test_state_keeps_exposures_and_reads_old_series() -> None:
    known = Known(0.02, None, None, 3, Series().add(0.01, 0.5), exposure=1.25)
    back = Known.from_wire(known.to_wire())
    assert back is not None and back.exposure == 1.25 and back.series == known.series
    legacy = Known.from_wire({"value": 1.0, "iteration": 2, "series": [2, 1.0, 0.5]})
    assert legacy is not None and legacy.series == Series(2, 1.0, 0.5, 2.0)
    assert legacy.exposure is None
    for bad in ("x", -1, math.nan, math.inf, True):
        read = Known.from_wire({"value": 1.0, "iteration": 2, "exposure": bad})
        assert read is not None and read.exposure is None
    wire = Carried(exposure={"v1": 2.5, "v2": 0.5}).to_wire()
    assert wire["exposure"] == {"v1": 2.5, "v2": 0.5}
    assert Series.from_wire([2, 1.0, 0.5, 0.0]) is None  # values without any weight


def test_the_bench_queries_values_since_the_start() -> None:
    assert cumulative.is_cumulative(metric_definitions(BARE)[ERRORS])


def run(scenario: Scenario, seed: int) -> tuple[str, list[dict[str, Any]], str]:
    """The simulator's run: the outcome, every step's details, and the last reason."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    world, policy = World(scenario, rng), AlgorithmPolicy(ALGORITHM, scenario, seed)
    weights, action, details = policy.start(), "continue", []
    for iteration in range(1, scenario.max_iterations + 1):
        world.serve(weights)
        step = policy.step(iteration, world.snapshot())
        assert policy.last is not None
        details.append(policy.last.details)
        weights, action = step.weights, step.action
        if action != "continue":
            break
    assert policy.last is not None
    return action, details, policy.last.decision.reason


def test_a_healthy_canary_of_bare_cumulative_values_is_promoted() -> None:
    """Read as independent draws, 13.5% of these runs ended `no-winner` (1,000 runs)."""
    actions = [run(BARE, seed)[0] for seed in range(60)]
    assert actions.count("promote") >= 58, actions
    _, details, _ = run(BARE, 0)
    basis = details[-1]["evidence"]["v2"][ERRORS]
    assert basis.startswith("what each iteration added to a value since the start"), basis


def test_a_slightly_failing_canary_of_bare_cumulative_values_is_not_promoted() -> None:
    """1.2% errors against a limit of 1%: at most 1% of runs promote it (0 of 1,000 on the
    bench), and exposures carry from step to step."""
    found = [run(BARE_SLIGHT, seed) for seed in range(100)]
    assert sum(action == "promote" for action, _, _ in found) <= 1
    exposures = [d["state"]["exposure"]["v2"] for d in found[0][1]]
    assert exposures == sorted(exposures) and exposures[0] > 0


def test_carried_exposure_is_read_back_from_the_status() -> None:
    policy = AlgorithmPolicy(ALGORITHM, BARE, 1)
    world = World(BARE, np.random.default_rng(1))
    world.serve(policy.start())
    policy.step(1, world.snapshot())
    assert policy.last is not None
    analysis = status_analysis(policy.last, "test", "2026-01-01T00:00:00Z")
    exp = Experiment.from_wire({**experiment_for(BARE).to_wire(), "status": {"analysis": analysis}})
    assert previous(exp).exposure == pytest.approx({"v1": 0.98, "v2": 0.02})


def test_a_likely_failing_canary_of_values_is_given_up_before_the_horizon() -> None:
    """Futility on values (`futility.stalled_on_values`): harm is rarely provable from values alone, and
    the 1.2%-error canary used to keep its Thompson share for all 20 iterations."""
    found = [run(BARE_SLIGHT, seed) for seed in range(40)]
    ended = [len(details) for _, details, _ in found]
    assert sorted(ended)[len(ended) // 2] < BARE_SLIGHT.max_iterations, ended
    early = [(a, why) for a, d, why in found if len(d) < BARE_SLIGHT.max_iterations]
    assert early and all(a == "no-winner" and "futility" in why for a, why in early), early


def test_futility_on_values_spares_a_compliant_canary_near_its_limit() -> None:
    """0.7% errors against 1%: promoted in 96% of 200 runs, with the futility rule as without
    it (the rule is non-binding and needs a likely-failing candidate)."""
    near = dataclasses.replace(BARE, arms=(Arm(), Arm(error=0.007)))
    actions = [run(near, seed)[0] for seed in range(50)]
    assert actions.count("promote") >= 45, actions


def test_an_interval_counts_by_the_time_it_lasted() -> None:
    """The first analysis follows init at once (its value rests on a few seconds), and a late
    tick's interval is longer: counted by the time each lasted, the increments still give
    back every interval's own mean; counted as one whole interval each, they do not."""
    interval, share = 20.0, 0.3
    lasted_seconds = np.array([2.0, 20.0, 20.0, 45.0, 20.0, 5.0])
    rng = np.random.default_rng(11)
    for _ in range(100):
        own = rng.normal(5.0, 2.0, lasted_seconds.size)
        weights = lasted_seconds * share
        since_start = np.cumsum(weights * own) / np.cumsum(weights)
        elapsed = np.cumsum(lasted_seconds)
        for by_time in (True, False):
            carried: dict[str, float] = {}
            last, exposed, recovered = None, None, []
            for i in range(lasted_seconds.size):
                lasted = (
                    cumulative.span(
                        float(elapsed[i]),
                        float(elapsed[i - 1]) if i else None,
                        interval,
                        first=not carried,
                    )
                    if by_time
                    else 1.0
                )
                carried = cumulative.exposures(carried, {"v": share}, ["v"], lasted)
                step = cumulative.increment(since_start[i], carried["v"], last, exposed)
                assert step is not None
                recovered.append(step[0])
                last, exposed = since_start[i], carried["v"]
            if by_time:
                assert recovered == pytest.approx(own, rel=1e-9, abs=1e-9)
            else:
                assert recovered[1] != pytest.approx(own[1], rel=1e-3)


@pytest.mark.parametrize(
    ("elapsed", "before", "interval", "first", "expected"),
    [
        (2.0, None, 20.0, True, 0.1),  # the first analysis, 2 s after the start
        (62.0, 22.0, 20.0, False, 2.0),  # a tick that came an interval late
        (22.0, 22.0, 20.0, False, 0.0),  # the same moment again: nothing added
        (10.0, 22.0, 20.0, False, 0.0),  # a clock that went back
        (None, 22.0, 20.0, False, 1.0),  # no time known: one whole interval
        (42.0, None, 20.0, False, 1.0),  # after an analysis that recorded no time
        (42.0, 22.0, None, False, 1.0),
        (1e12, 0.0, 1.0, False, cumulative.MOST_INTERVALS),
    ],
)
def test_span_of_an_interval(
    elapsed: float | None,
    before: float | None,
    interval: float | None,
    first: bool,
    expected: float,
) -> None:
    assert cumulative.span(elapsed, before, interval, first) == pytest.approx(expected)


def test_the_analysis_counts_its_first_interval_by_the_seconds_it_lasted() -> None:
    """Through the algorithm: the first analysis 2 s after the start exposes each version for
    a tenth of a 20-second interval; the next, 40 s later (a tick came late), for two more, as
    the time carried in the status says."""
    rng = np.random.default_rng(2)
    world, names = World(BARE, rng), BARE.versions
    base, metrics = experiment_for(BARE), metric_definitions(BARE)
    status: dict[str, Any] = {"currentWeightDistribution": [
        {"name": "v1", "value": 98}, {"name": "v2", "value": 2}
    ]}  # fmt: skip
    exposures = []
    for completed, elapsed in enumerate((2.0, 42.0)):
        world.serve([98, 2])
        experiment = Experiment.from_wire(
            {**base.to_wire(), "status": {**status, "completedIterations": completed}}
        )
        given = AnalysisInput(
            experiment, metrics, observations(world.snapshot(), names), 1, elapsed
        )
        result = ALGORITHM.analyze(given)
        state = result.details["state"]
        exposures.append(state["exposure"])
        assert state["elapsed"] == elapsed
        status["analysis"] = status_analysis(result, "test", "2026-01-01T00:00:00Z")
    assert exposures[0] == pytest.approx({"v1": 0.098, "v2": 0.002})
    assert exposures[1] == pytest.approx({"v1": 2.058, "v2": 0.042})


@pytest.mark.parametrize(
    ("raw", "expected"), [(42.0, 42.0), (-1, None), ("5", None), (True, None), (math.inf, None)]
)
def test_the_time_carried_in_the_status_is_read_back_only_when_sane(
    raw: object, expected: float | None
) -> None:
    """A status edited by hand (or by anyone) gives no time rather than a bad one: the next
    interval then counts as one whole interval."""
    details = {"algorithm": "bayesian", "state": {"elapsed": raw}}
    exp = Experiment.from_wire(
        {**experiment_for(BARE).to_wire(), "status": {"analysis": {"details": details}}}
    )
    assert previous(exp).elapsed == expected
