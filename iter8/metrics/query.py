"""Iter8 v2's templated HTTP query (iter8-v2.md §2.2), shared by the REST and Prometheus providers.

`build` turns a Metric and a version into a concrete request, `send` runs it, `extract` applies
the jq expression. Each failure raises `FetchFailed` with the outcome it stands for, carrying the
backend's own words; secret values never enter a message we write (the registry also redacts).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from string import Template
from typing import Any
from urllib.parse import urlsplit

import httpx

from iter8.analytics.observations import Outcome
from iter8.metrics import jq_sandbox, transport
from iter8.metrics.provider import FetchFailed, FetchRequest

EXCERPT = 200  # characters of a backend's answer quoted in a message


@dataclass(frozen=True)
class Query:
    method: str
    url: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any = None  # parsed JSON, sent only with POST
    auth: tuple[str, str] | None = None

    @property
    def where(self) -> str:
        """The endpoint without its query string, for messages."""
        parts = urlsplit(self.url)
        return f"{self.method} {parts.scheme}://{parts.netloc}{parts.path}"


def template_args(request: FetchRequest) -> dict[str, str]:
    """`name`, then every version variable, then `elapsedTime` (whole seconds, no unit)."""
    args = {"name": request.version.name}
    args.update({v.name: v.value for v in request.version.variables or []})
    args["elapsedTime"] = str(request.elapsed_seconds)
    return args


def build(request: FetchRequest) -> Query:
    spec = request.metric.spec
    if not spec.url_template:
        raise FetchFailed("error", "the metric has no urlTemplate")
    secret = dict(request.secret or {})
    url = Template(spec.url_template).safe_substitute(secret) if spec.secret else spec.url_template
    args = template_args(request)
    params = [(p.name, Template(p.value).safe_substitute(args)) for p in spec.params or []]
    templated = spec.secret is not None and spec.auth_type in ("Bearer", "APIKey")
    headers = {
        h.name: Template(h.value).safe_substitute(secret) if templated else h.value
        for h in spec.header_templates or []
    }
    method = spec.method or "GET"
    body = None
    if spec.body is not None and method == "POST":
        text = Template(spec.body).safe_substitute(args)
        try:
            body = json.loads(text)
        except ValueError as error:
            raise FetchFailed("error", f"the templated body is not JSON: {error}") from error
    auth = None
    if spec.auth_type == "Basic":
        if "username" not in secret or "password" not in secret:
            raise FetchFailed("error", "authType Basic needs keys username and password in secret")
        auth = (secret["username"], secret["password"])
    return Query(method, url, params, headers, body, auth)


def send(query: Query, request: FetchRequest) -> Any:
    """The response's JSON document; HTTP failures, timeouts and non-JSON raise `FetchFailed`.

    `request.timeout` is a deadline for the whole exchange, body included (`transport`), and
    the body is bounded in size; link-local and metadata addresses are refused."""
    parts = urlsplit(query.url)
    if parts.scheme not in ("http", "https"):
        raise FetchFailed(
            "error", f"urlTemplate: scheme {parts.scheme!r} is refused (http or https)"
        )
    if why := transport.refusal(parts.hostname or ""):
        raise FetchFailed("error", f"urlTemplate: refused: {why}")
    client = request.client or transport.client(1)
    try:
        with (
            transport.deadline(request.timeout),
            client.stream(
                query.method,
                query.url,
                params=_params(query.params),
                headers=query.headers,
                json=query.body,
                auth=query.auth,
                timeout=request.timeout,
            ) as response,
        ):
            body = transport.read_body(response)
    except httpx.TimeoutException as error:
        raise FetchFailed(
            "timeout", f"no whole answer within {request.timeout:g} s from {query.where}"
        ) from error
    except httpx.HTTPError as error:
        raise FetchFailed("error", f"{query.where}: {type(error).__name__}: {error}") from error
    except transport.BodyTooLarge as error:
        raise FetchFailed("error", f"{query.where}: {error}") from error
    except ValueError as error:  # a URL that httpx cannot even parse
        raise FetchFailed("error", f"bad URL in urlTemplate: {error}") from error
    finally:
        if request.client is None:
            client.close()
    text = body.decode(response.encoding or "utf-8", errors="replace")
    if response.status_code >= 400:
        kind, message = _backend_error(text)
        # Prometheus answers 503 with errorType "timeout" when the query ran out of time.
        outcome: Outcome = "timeout" if kind == "timeout" else "error"
        raise FetchFailed(outcome, f"HTTP {response.status_code}: {message}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise FetchFailed("error", f"the response is not JSON: {_cut(text)}") from error


def _params(pairs: list[tuple[str, str]]) -> httpx.QueryParams:
    """Repeated names kept, in order (httpx's typing wants a wider list type)."""
    params = httpx.QueryParams()
    for name, value in pairs:
        params = params.add(name, value)
    return params


def _backend_error(text: str) -> tuple[str | None, str]:
    """The backend's error in its own words: a JSON `error` field (and `errorType`) if any."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        kind = document.get("errorType")
        if isinstance(kind, str):
            return kind, _cut(f"{kind}: {document['error']}")
        return None, _cut(document["error"])
    return None, _cut(text)


def _cut(text: str) -> str:
    text = text.strip()
    if not text:
        return "(empty body)"
    return text[:EXCERPT] + ("…" if len(text) > EXCERPT else "")


def extract(document: Any, expression: str | None) -> float:
    """The first output of the jq expression, which must be a finite number. The expression
    runs in a sandboxed worker (`jq_sandbox`): one that never ends or grows without bound fails
    this metric's fetch, not the iteration."""
    if not expression:
        raise FetchFailed("error", "the metric has no jqExpression")
    try:
        reply = jq_sandbox.shared().evaluate(expression, json.dumps(document))
    except jq_sandbox.JqFailed as failure:
        raise FetchFailed("error", f"jqExpression {expression!r}: {failure}") from None
    if "error" in reply:
        if reply.get("compile"):
            raise FetchFailed("error", f"jqExpression does not compile: {reply['error']}")
        raise FetchFailed("error", f"jqExpression {expression!r}: {reply['error']}")
    if reply.get("empty"):
        raise FetchFailed("empty", f"jqExpression {expression!r} produced no output")
    if "other" in reply:
        raise FetchFailed(
            "error", f"jqExpression {expression!r} gave {reply['other']}, not a number"
        )
    return _number(reply.get("value"), expression)


def _number(value: Any, expression: str) -> float:
    if value is None:
        raise FetchFailed("no-data", f"jqExpression {expression!r} gave null")
    if isinstance(value, dict) and set(value) == {"iter8-special"}:
        special = value["iter8-special"]
        if special == "NaN":
            raise FetchFailed("nan", f"jqExpression {expression!r} gave NaN")
        raise FetchFailed(
            "error", f"jqExpression {expression!r} gave {special}, not a finite number"
        )
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        shown = json.dumps(value)[:EXCERPT]
        raise FetchFailed("error", f"jqExpression {expression!r} gave {shown}, not a number")
    return float(value)
