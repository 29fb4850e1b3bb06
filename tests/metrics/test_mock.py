"""Mocked metrics have Iter8 v2's semantics (§2.4), checked on their properties."""

from __future__ import annotations

import numpy as np
import pytest

from iter8.metrics.provider import FetchRequest
from iter8.metrics.registry import fetch, fetch_all, provider_for
from tests.metrics.builders import metric, version

LEVELS = [{"name": "v1", "level": "15"}, {"name": "v2", "level": "1.5k"}]


def draw(kind: str | None, name: str, t: int, seed: int = 0) -> float | None:
    m = metric(type=kind, mock=LEVELS) if kind else metric(mock=LEVELS)
    rng = np.random.default_rng(seed)
    return fetch(FetchRequest(metric=m, version=version(name), elapsed_seconds=t, rng=rng)).value


def test_mock_wins_over_every_other_provider() -> None:
    m = metric(provider="prometheus", urlTemplate="http://x/api/v1/query", mock=LEVELS)
    assert provider_for(m).name == "mock"


@pytest.mark.parametrize(
    ("name", "t", "value"), [("v1", 1, 15), ("v1", 300, 4500), ("v2", 2, 3000)]
)
def test_a_counter_is_level_times_elapsed_seconds(name: str, t: int, value: float) -> None:
    assert draw("Counter", name, t) == value


@pytest.mark.parametrize("t", [1, 10, 100])
def test_a_gauge_has_mean_level_and_variance_level_squared_over_2t_plus_1(t: int) -> None:
    x, m = 15.0, metric(type="Gauge", mock=LEVELS)
    rng = np.random.default_rng(2021)
    values = np.array(
        [
            fetch(FetchRequest(metric=m, version=version("v1"), elapsed_seconds=t, rng=rng)).value
            for _ in range(20_000)
        ]
    )
    variance = x * x / (2 * t + 1)
    assert values.mean() == pytest.approx(x, abs=5 * np.sqrt(variance / len(values)))
    assert values.var() == pytest.approx(variance, rel=0.05)
    assert values.min() >= 0 and values.max() <= 2 * x


def test_type_defaults_to_gauge() -> None:
    assert draw(None, "v1", 10) != 150
    assert draw(None, "v1", 10) == draw("Gauge", "v1", 10)


def test_a_version_without_a_level_is_an_error() -> None:
    m = metric(type="Counter", mock=LEVELS)
    observation = fetch(FetchRequest(metric=m, version=version("v3"), elapsed_seconds=5))
    assert observation.outcome == "error"
    assert observation.message == "no mock level for version 'v3'"


def test_fetch_all_draws_are_reproducible_from_the_seed_in_any_order() -> None:
    a, b = metric("a", mock=LEVELS), metric("b", mock=LEVELS)
    versions = [version("v1"), version("v2")]
    first = fetch_all([a, b], versions, elapsed_seconds=10, seed=7)
    again = fetch_all([b, a], versions[::-1], elapsed_seconds=10, seed=7, workers=1)
    other = fetch_all([a, b], versions, elapsed_seconds=10, seed=8)
    assert first == again
    assert first != other
    assert first["ns/a"]["v1"] != first["ns/b"]["v1"]  # two metrics are not the same draw
    assert fetch_all([a], versions, elapsed_seconds=10, seed=-1)["ns/a"]["v1"].known
