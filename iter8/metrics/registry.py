"""Fetch every metric for every version, each from the provider that claims it.

`fetch_all` never raises: a missing secret, an unreachable backend or a bug in a provider become
observations with an outcome and the backend's message, so one broken metric costs one row of
data, not the iteration (iter8-v2.md §2.6 and §8, weak spot 3).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import httpx
import numpy as np

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
    try:
        observation = provider_for(request.metric).fetch(request)
    except FetchFailed as failure:
        observation = unknown(failure.outcome, failure.message)
    except Exception as error:  # a provider bug must not stop the iteration
        observation = unknown("error", f"{type(error).__name__}: {error}")
    if observation.message and request.secret:
        observation = observation.model_copy(
            update={"message": redact(observation.message, request.secret)}
        )
    return observation


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
    workers: int = 8,
) -> Observations:
    """`{metric key: {version name: observation}}` for every metric × version, fetched in parallel.

    A bare `secret: name` lives in `secret_namespace` (Iter8's install namespace). A secret is
    read only if both the metric's namespace and `experiment_namespace` (the tenant whose data
    is fetched, and whose credentials these are) may read its namespace
    (`iter8.security.namespaces`): a Metric in team-a naming `kube-system/…`, or one in
    iter8-system naming another tenant's Secret, gets "unknown" and nothing is read or sent.
    Mock draws depend only on `seed`, the metric and the version, not on the order of fetching.
    """
    metrics = list(metrics)
    elapsed = max(1, int(elapsed_seconds))
    own_client = client is None
    client = client or transport.client(workers)
    try:
        requests: list[tuple[str, str, FetchRequest | Observation]] = []
        for metric in metrics:
            secret = _secret(metric, secrets, secret_namespace, experiment_namespace)
            for version in versions:
                item: FetchRequest | Observation
                if isinstance(secret, Observation):
                    item = secret
                else:
                    item = FetchRequest(
                        metric=metric,
                        version=version,
                        elapsed_seconds=elapsed,
                        secret=secret,
                        timeout=timeout,
                        builtin=builtin,
                        rng=_rng(seed, metric.key, version.name),
                        client=client,
                    )
                requests.append((metric.key, version.name, item))
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = pool.map(
                lambda r: r[2] if isinstance(r[2], Observation) else fetch(r[2]), requests
            )
            observations: Observations = {m.key: {} for m in metrics}
            for (key, name, _), observation in zip(requests, results, strict=True):
                observations[key][name] = observation
        return observations
    finally:
        if own_client:
            client.close()


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


def _rng(seed: int, metric: str, version: str) -> np.random.Generator:
    keys = (zlib.crc32(metric.encode()), zlib.crc32(version.encode()))
    entropy = seed & 0xFFFF_FFFF_FFFF_FFFF  # SeedSequence refuses negative seeds
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=keys))
