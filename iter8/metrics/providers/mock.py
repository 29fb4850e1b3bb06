"""Mocked metrics (iter8-v2.md §2.4): a level per version, no backend, seeded randomness.

With level `x` and `t` seconds elapsed, a Counter is `x·t` and a Gauge is `2x·B` with
`B ~ Beta(t, t)`: mean `x`, variance `x²/(2t+1)`, so the noise shrinks as the experiment runs,
the way a real average over more requests would.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from iter8.analytics.observations import Observation
from iter8.api.metric import Metric
from iter8.api.quantity import quantity_value
from iter8.metrics.provider import FetchFailed, FetchRequest


class MockProvider:
    name: ClassVar[str] = "mock"
    priority: ClassVar[int] = 100
    io: ClassVar[bool] = False

    def matches(self, metric: Metric) -> bool:
        return metric.spec.mock is not None

    def fetch(self, request: FetchRequest) -> Observation:
        name = request.version.name
        # the last level given for the version counts, as in a mapping built from the list
        level = next(
            (m.level for m in reversed(request.metric.spec.mock or []) if m.name == name), None
        )
        if level is None:
            raise FetchFailed("error", f"no mock level for version {name!r}")
        x = quantity_value(level)
        t = request.elapsed_seconds
        if request.metric.spec.type == "Counter":
            return Observation(value=x * t)
        rng = request.rng if request.rng is not None else np.random.default_rng(0)
        return Observation(value=2 * x * float(rng.beta(t, t)))


PROVIDER = MockProvider()
