"""`notification/http`: tell a webhook (GitHub Actions, Tekton, any CI) how the experiment went.

Iter8 v2's options and defaults: POST; the body defaults to the summary (`winnerFound`, `winner`,
`versionRecommendedForPromotion`, `lastRecommendedWeights`) plus the whole experiment; failures
are ignored unless `ignoreFailure: false`. Auth from a Secret: Basic (`username`, `password`),
Bearer (`token`), APIKey (headers whose values name secret keys, `{{ .key }}`). String leaves
of an object `body` may use `@< … >@`; each is rendered on its own, so no value can break the
JSON around it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import httpx

from iter8.api.base import NamedValue
from iter8.tasks.base import Params, TaskContext, TaskFailed, TaskResult, parse_params
from iter8.tasks.facts import summary
from iter8.tasks.notify import ignoring, send
from iter8.tasks.template import Scope, TemplateError, render, render_variables


class HttpParams(Params):
    url: str
    method: Literal["GET", "POST", "PUT", "PATCH"] = "POST"
    auth_type: Literal["Basic", "Bearer", "APIKey"] | None = None
    secret: str | None = None
    headers: list[NamedValue] | dict[str, str] | None = None
    body: dict[str, Any] | list[Any] | None = None
    ignore_failure: bool = True


class HttpTask:
    name: ClassVar[str] = "notification/http"

    def run(self, params: Mapping[str, Any], context: TaskContext) -> TaskResult:
        given = parse_params(HttpParams, params)
        return ignoring(given.ignore_failure, lambda: self.notify(given, context))

    def notify(self, given: HttpParams, context: TaskContext) -> TaskResult:
        if given.auth_type and not given.secret:
            raise TaskFailed(f"authType {given.auth_type} needs a `secret`")
        secret = context.secret(given.secret) if given.secret else {}
        headers = _headers(given, secret)
        auth = None
        if given.auth_type == "Basic":
            auth = httpx.BasicAuth(_key(secret, "username"), _key(secret, "password"))
        elif given.auth_type == "Bearer":
            headers["Authorization"] = f"Bearer {_key(secret, 'token')}"
        if given.body is None:
            body: Any = {"summary": summary(context.experiment), "experiment": context.wire}
        else:
            body = _render_leaves(given.body, context.scope(secret or None))
        return send(
            context,
            method=given.method,
            url=given.url,
            headers=headers,
            body=body,
            auth=auth,
            secret=secret,
        )


def _headers(given: HttpParams, secret: Mapping[str, str]) -> dict[str, str]:
    pairs = given.headers or {}
    items = pairs.items() if isinstance(pairs, dict) else ((h.name, h.value) for h in pairs)
    headers: dict[str, str] = {}
    for name, value in items:
        try:
            headers[name] = render_variables(value, secret) if secret else value
        except TemplateError as error:
            raise TaskFailed(
                f"header {name}: {str(error).replace('recommended version', 'secret')}"
            ) from None
    return headers


def _key(secret: Mapping[str, str], key: str) -> str:
    if key not in secret:
        raise TaskFailed(f"the secret has no key {key!r}")
    return secret[key]


def _render_leaves(value: Any, scope: Scope) -> Any:
    if isinstance(value, str):
        try:
            return render(value, scope)
        except TemplateError as error:
            raise TaskFailed(f"body: {error}") from None
    if isinstance(value, dict):
        return {key: _render_leaves(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_leaves(item, scope) for item in value]
    return value


TASK = HttpTask()
