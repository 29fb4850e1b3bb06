"""Fetch every metric for every version, each from the provider that claims it.

`fetch_all` never raises: a missing secret, an unreachable backend or a bug in a provider become
observations with an outcome and the backend's message, so one broken metric costs one row of
data, not the iteration (iter8-v2.md §2.6 and §8, weak spot 3).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING, Any

import iter8.metrics.providers
from iter8.analytics.observations import Observation, Observations, unknown
from iter8.api.experiment import VersionDetail
from iter8.api.metric import Metric
from iter8.api.references import BUILTIN_NAMESPACE, resolve
from iter8.metrics import transport
from iter8.metrics.builtin_data import BuiltinHists
from iter8.metrics.provider import DEFAULT_TIMEOUT, FetchFailed, FetchRequest, MetricsProvider
from iter8.metrics.secrets import SecretSource
from iter8.registry import discover
from iter8.security.namespaces import SECRET_NAMESPACES_ENV, secret_namespace_allowed
from iter8.security.redact import redact

if TYPE_CHECKING:  # imported on first use: `import functions.analyze.main` loads neither
    import httpx
    import numpy as np


@cache
def providers() -> dict[str, MetricsProvider]:
    return discover(iter8.metrics.providers, "PROVIDER")


def provider_for(metric: Metric) -> MetricsProvider:
    """The matching provider with the highest priority (mock, builtin, prometheus, rest)."""
    matching = [p for p in providers().values() if p.matches(metric)]
    if not matching:
        raise LookupError(f"no metrics provider matches {metric.key}")
    return max(matching, key=lambda p: p.priority)


def fetch(request: FetchRequest) -> Observation:
    """One observation; every failure is an outcome, with secret values redacted."""
    return _fetch(provider_for(request.metric), request)


def _fetch(provider: MetricsProvider, request: FetchRequest) -> Observation:
    try:
        observation = provider.fetch(request)
    except FetchFailed as failure:
        observation = unknown(failure.outcome, failure.message)
    except Exception as error:  # a provider bug must not stop the iteration
        observation = unknown("error", f"{type(error).__name__}: {error}")
    if observation.message and request.secret:
        observation = observation.model_copy(
            update={"message": redact(observation.message, request.secret)}
        )
    return observation


def _fetch_queued(provider: MetricsProvider, request: FetchRequest, queued: float) -> Observation:
    """`_fetch` on a pool thread, unless the request waited for one past its timeout (the pool
    is shared by every handler thread): a fetch ends within twice its timeout of being asked."""
    waited = time.monotonic() - queued
    if waited > request.timeout:
        return unknown("timeout", f"waited {waited:.3g} s for a fetch thread (all busy)")
    return _fetch(provider, request)


POOL_THREADS = transport.SHARED_CONNECTIONS  # fetches waiting on backends at once, per process


@cache
def _pool() -> ThreadPoolExecutor:
    """The process's fetch threads, started on the first fetch that waits on a backend and
    kept (a pool per iteration cost more than the mock fetches it ran)."""
    return ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="fetch")


def fetch_all(
    metrics: Iterable[Metric],
    versions: Sequence[VersionDetail],
    *,
    elapsed_seconds: float,
    secrets: SecretSource | None = None,
    builtin: BuiltinHists | None = None,
    seed: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
    secret_namespace: str = BUILTIN_NAMESPACE,
    experiment_namespace: str | None = None,
    client: httpx.Client | None = None,
    workers: int = POOL_THREADS,
) -> Observations:
    """`{metric key: {version name: observation}}` for every metric × version.

    Fetches that wait on a backend run side by side on the process's pool (`workers` ≤ 1: one
    after the other) with the process's client (`transport.shared`) unless `client` is given;
    the others (mock, built-in) run on this thread, with no pool and no client at all.

    A bare `secret: name` lives in `secret_namespace` (Iter8's install namespace). A secret is
    read only if both the metric's namespace and `experiment_namespace` (the tenant whose data
    is fetched, and whose credentials these are) may read its namespace
    (`iter8.security.namespaces`): a Metric in team-a naming `kube-system/…`, or one in
    iter8-system naming another tenant's Secret, gets "unknown" and nothing is read or sent.
    Mock draws come from one generator per call, seeded by `seed`, in the order of metric keys
    and version names: the same seed, metrics and versions give the same values, whatever
    order they are given in.
    """
    keyed = [(metric.key, metric) for metric in metrics]
    names = sorted(versions, key=lambda v: v.name)
    elapsed = query_window(elapsed_seconds)
    found: dict[tuple[str, str], Observation] = {}
    local: list[tuple[MetricsProvider, Metric, str, VersionDetail, dict[str, str] | None]] = []
    remote: list[tuple[MetricsProvider, Metric, str, VersionDetail, dict[str, str] | None]] = []
    for key, metric in sorted(keyed, key=lambda pair: pair[0]):
        secret = _secret(metric, secrets, secret_namespace, experiment_namespace)
        provider = provider_for(metric)
        for version in names:
            if isinstance(secret, Observation):
                found[key, version.name] = secret
            else:
                (remote if provider.io else local).append((provider, metric, key, version, secret))

    def request(
        metric: Metric, version: VersionDetail, secret: dict[str, str] | None, **more: Any
    ) -> FetchRequest:
        return FetchRequest(
            metric=metric, version=version, elapsed_seconds=elapsed, secret=secret,
            timeout=timeout, builtin=builtin, **more,
        )  # fmt: skip

    if local:
        rng = _generator(seed)
        for provider, metric, key, version, secret in local:
            found[key, version.name] = _fetch(provider, request(metric, version, secret, rng=rng))
    if remote:
        shared = client or transport.shared()
        calls = [
            (provider, key, request(metric, version, secret, client=shared))
            for provider, metric, key, version, secret in remote
        ]
        if workers <= 1 or len(calls) == 1:
            results = [_fetch(provider, r) for provider, _, r in calls]
        else:
            pool, queued = _pool(), time.monotonic()
            futures = [
                pool.submit(contextvars.copy_context().run, _fetch_queued, provider, r, queued)
                for provider, _, r in calls
            ]
            results = [future.result() for future in futures]
        for (_, key, r), observation in zip(calls, results, strict=True):
            found[key, r.version.name] = observation
    return {key: {v.name: found[key, v.name] for v in versions} for key, _ in keyed}


def query_window(elapsed_seconds: float) -> int:
    """`$elapsedTime` in a query: whole seconds since the start, at least one (an empty window
    has nothing in it)."""
    return max(1, int(elapsed_seconds))


def _secret(
    metric: Metric, secrets: SecretSource | None, namespace: str, experiment_namespace: str | None
) -> dict[str, str] | Observation | None:
    """The metric's decoded secret, None if it has none, or why it could not be read."""
    if not metric.spec.secret:
        return None
    ref = resolve(metric.spec.secret, namespace)
    owners = [("the metric's", metric.namespace)]
    if experiment_namespace is not None:
        owners.insert(0, ("the experiment's", experiment_namespace))
    for owner, owner_namespace in owners:
        if not secret_namespace_allowed(owner_namespace, ref.namespace):
            return unknown(
                "error",
                f"secret {ref} is outside {owner} namespace {owner_namespace!r}: not read "
                f"(an operator may allow it: {SECRET_NAMESPACES_ENV}="
                f"{owner_namespace}:{ref.namespace})",
            )
    if secrets is None:
        return unknown("error", f"secret {ref} is needed but no secret source was given")
    try:
        return dict(secrets(ref.namespace, ref.name))
    except Exception as error:
        return unknown("error", f"secret {ref}: {getattr(error, 'message', None) or error}")


def _generator(seed: int) -> np.random.Generator:
    """One generator per call: a seeded generator costs ~25 µs to make, a draw under 1 µs."""
    import numpy as np

    return np.random.default_rng(seed & 0xFFFF_FFFF_FFFF_FFFF)  # refuses negative seeds
