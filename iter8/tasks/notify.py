"""What the notification tasks share: one HTTP request, failures that may be ignored, and no
secret value in any message.

`ignoreFailure` (default true, as in Iter8 v2) covers everything after the options parse: a
missing Secret or an unreachable webhook never stops a finish action that promotes a version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from iter8.security.redact import origin, redact
from iter8.tasks.base import TaskContext, TaskFailed, TaskResult


def send(
    context: TaskContext,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: Any = None,
    auth: httpx.BasicAuth | None = None,
    secret: Mapping[str, str] | None = None,
) -> TaskResult:
    """Send the request; TaskFailed, with no secret value in it, if it fails. The URL is shown
    as its scheme and host only: webhook URLs carry their credential in the path or query."""
    shown = origin(url)
    hidden = {**secret, **_url_parts(url)} if secret else _url_parts(url)
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
    except httpx.HTTPError as error:
        problem = f"{method} {shown} failed: {type(error).__name__}: {error}"
        raise TaskFailed(redact(problem, hidden) or problem) from None
    if response.status_code >= 400:
        excerpt = response.text[:200].strip()
        problem = f"{method} {shown} answered {response.status_code}: {excerpt}"
        raise TaskFailed(redact(problem, hidden) or problem)
    return TaskResult(
        f"{method} {shown}: {response.status_code}", details={"status": response.status_code}
    )


def ignoring(ignore_failure: bool, notify: Callable[[], TaskResult]) -> TaskResult:
    """The notification's result; with `ignore_failure`, a failure becomes a success saying so."""
    try:
        return notify()
    except TaskFailed as failure:
        if not ignore_failure:
            raise
        return TaskResult(
            f"ignored (ignoreFailure): {failure.message}",
            details={"ignoredFailure": failure.message},
        )


def _url_parts(url: str) -> dict[str, str]:
    """The parts of a URL that may hold a credential, to redact where a message quotes them."""
    parts = urlsplit(url)
    found = {"url": url, "path": parts.path.strip("/"), "query": parts.query}
    return {k: v for k, v in found.items() if len(v) > 1}
