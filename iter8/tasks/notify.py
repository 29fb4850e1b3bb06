"""What the notification tasks share: one HTTP request, failures that may be ignored, and no
secret value in any message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from iter8.metrics.secrets import redact
from iter8.tasks.base import TaskContext, TaskFailed, TaskResult


def send(
    context: TaskContext,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: Any = None,
    auth: httpx.BasicAuth | None = None,
    ignore_failure: bool,
    secret: Mapping[str, str] | None = None,
) -> TaskResult:
    """Send the request; a failure is TaskFailed, or a success that says it was ignored."""
    shown = redact(url, secret) or url
    try:
        with context.client() as client:
            response = client.request(
                method,
                url,
                headers=dict(headers),
                json=body if method != "GET" else None,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                timeout=context.http_timeout,
            )
        if response.status_code >= 400:
            excerpt = response.text[:200].strip()
            problem = f"{method} {shown} answered {response.status_code}: {excerpt}"
        else:
            return TaskResult(
                f"{method} {shown}: {response.status_code}",
                details={"status": response.status_code},
            )
    except httpx.HTTPError as error:
        problem = f"{method} {shown} failed: {type(error).__name__}: {error}"
    problem = redact(problem, secret) or problem
    if ignore_failure:
        return TaskResult(
            f"ignored (ignoreFailure): {problem}", details={"ignoredFailure": problem}
        )
    raise TaskFailed(problem)
