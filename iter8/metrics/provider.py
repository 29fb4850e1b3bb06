"""The contract between the fetch loop and one kind of metrics backend.

A provider is a module-level `PROVIDER` in `iter8/metrics/providers/`; the registry picks, for
each Metric, the matching provider with the highest `priority` (so the generic REST provider,
which matches everything, is the fallback). `fetch` may raise: the registry turns any exception
into an `error` observation, so one broken backend never stops an iteration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from iter8.analytics.observations import Observation, Outcome
from iter8.api.experiment import VersionDetail
from iter8.api.metric import Metric
from iter8.metrics.builtin_data import BuiltinHists

if TYPE_CHECKING:  # numpy and httpx are imported by the providers that use them
    import httpx
    import numpy as np

DEFAULT_TIMEOUT = 5.0  # seconds, as Iter8 v2


class FetchFailed(Exception):
    """No number for this metric and version; `outcome` says why (see `Observation`)."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome: Outcome = outcome
        self.message = message


@dataclass(frozen=True)
class FetchRequest:
    """Everything needed to fetch one metric for one version, so providers do no lookups."""

    metric: Metric
    version: VersionDetail
    elapsed_seconds: int = 1  # since the experiment started; `$elapsedTime` in templates
    secret: Mapping[str, str] | None = None  # the metric's secret, already base64-decoded
    timeout: float = DEFAULT_TIMEOUT
    builtin: BuiltinHists | None = None  # what `metrics/collect` measured, for provider iter8
    rng: np.random.Generator | None = None  # for random draws (mock); None → seed 0
    client: httpx.Client | None = None  # shared connection pool; None → a client per request

    def __post_init__(self) -> None:
        if self.elapsed_seconds < 1:
            raise ValueError(f"elapsed_seconds must be at least 1, not {self.elapsed_seconds}")


@runtime_checkable
class MetricsProvider(Protocol):
    name: ClassVar[str]
    priority: ClassVar[int]  # among providers that match a Metric, the highest wins
    # True if a fetch waits on a backend: such fetches run side by side on the process's pool;
    # the others (mock, built-in) run one after the other on the caller's thread, drawing from
    # one generator in a fixed order
    io: ClassVar[bool]

    def matches(self, metric: Metric) -> bool: ...

    def fetch(self, request: FetchRequest) -> Observation: ...
