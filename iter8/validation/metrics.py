"""Rules on a `Metric`: enough to fetch it, an http(s) URL, a jq expression that compiles, and a
secret in a namespace the metric may read (iter8.security.namespaces)."""

from __future__ import annotations

from collections.abc import Iterator

import jq

from iter8.api.metric import Metric
from iter8.api.references import BUILTIN_NAMESPACE, MetricKey, is_well_formed, resolve
from iter8.security.namespaces import SECRET_NAMESPACES_ENV, secret_namespace_allowed
from iter8.validation.problems import Problem
from iter8.validation.urls import url_problem

BUILTIN_PROVIDER = "iter8"


def check_metric(metric: Metric) -> Iterator[Problem]:
    spec = metric.spec
    if spec.sample_size is not None and not is_well_formed(spec.sample_size):
        yield Problem("spec.sampleSize", f"{spec.sample_size!r} is not 'namespace/name' or 'name'")
    if spec.auth_type and not spec.secret:
        yield Problem("spec.secret", f"is required with authType {spec.auth_type}")
    if spec.secret is not None and not is_well_formed(spec.secret):
        yield Problem("spec.secret", f"{spec.secret!r} is not 'namespace/name' or 'name'")
    secret = metric_secret(metric)
    if secret is not None:
        problem = secret_problem(secret, metric.namespace, "the metric's")
        if problem:
            yield Problem("spec.secret", problem)
    if spec.mock is not None or spec.provider == BUILTIN_PROVIDER:
        for index, level in enumerate(spec.mock or []):
            if not level.name:
                yield Problem(f"spec.mock[{index}].name", "must name a version")
        return
    if not spec.url_template:
        yield Problem("spec.urlTemplate", "is required unless the metric is mocked or built in")
    else:
        problem = url_problem(spec.url_template, placeholders=True)
        if problem:
            yield Problem("spec.urlTemplate", problem)
    if not spec.jq_expression:
        yield Problem("spec.jqExpression", "is required unless the metric is mocked or built in")
    else:
        try:
            jq.compile(spec.jq_expression)
        except ValueError as error:
            yield Problem("spec.jqExpression", f"does not compile: {str(error).splitlines()[0]}")


def metric_secret(metric: Metric) -> MetricKey | None:
    """Where the metric's secret is read: `ns/name`, or a bare `name` in Iter8's namespace (as
    Iter8 v2 and iter8.metrics.registry resolve it)."""
    secret = metric.spec.secret
    if not secret or not is_well_formed(secret):
        return None
    return resolve(secret, BUILTIN_NAMESPACE)


def secret_problem(secret: MetricKey, owner_namespace: str, owner: str) -> str | None:
    """Why an object in `owner_namespace` may not read `secret`, or None."""
    if secret_namespace_allowed(owner_namespace, secret.namespace):
        return None
    return outside(
        f"secret {secret}", secret.namespace, owner_namespace, owner, SECRET_NAMESPACES_ENV
    )


def outside(what: str, namespace: str, owner_namespace: str, owner: str, env: str) -> str:
    """The problem of a reference across the namespace boundary, and how an operator allows it."""
    return (
        f"{what} is outside {owner} namespace {owner_namespace!r} (an operator may allow it: "
        f"{env}={owner_namespace}:{namespace})"
    )
