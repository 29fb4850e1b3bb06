"""Trigger filters with Knative's semantics, compiled once into predicates.

`spec.filter.attributes` (`pkg/eventfilter/attributes`): every key must match exactly; an empty
value means "present and not empty". `spec.filters` (the CloudEvents Subscriptions API,
`pkg/eventfilter/subscriptionsapi`) overrides it when non-empty: a list read as `all`, each
element holding one dialect of `exact`, `prefix`, `suffix`, `all`, `any`, `not`. Results are
three-valued as in Knative (pass, fail, no filter), and "no filter" lets the event through.

CESQL is refused: no maintained CloudEvents SQL implementation exists for Python (none on PyPI),
and a hand-written one would drift from the spec Knative tracks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

from eventing.broker.event import ZERO_TIME, Event, media_type

DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")
ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9]*")  # trigger_validation.go
CESQL_REFUSED = (
    "cesql filters are not supported by the embedded broker (no CloudEvents SQL implementation "
    "exists for Python); use exact, prefix, suffix, all, any or not"
)


class Result(Enum):
    PASS = "pass"
    FAIL = "fail"
    NONE = "no filter"


Filter = Callable[[Event], Result]


class FilterError(ValueError):
    """A filter Knative's webhook would reject; `path` is where, e.g. `spec.filters[0].exact`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


def lookup(event: Event, name: str) -> tuple[str, bool]:
    """An attribute as Knative's `LookupAttribute` sees it: context attributes always exist."""
    attributes = event.attributes
    if name in ("specversion", "type", "source", "subject", "id", "datacontenttype"):
        return attributes.get(name, ""), True
    if name == "time":
        return attributes.get("time", ZERO_TIME), True
    if name in ("dataschema", "schemaurl"):
        return attributes.get("dataschema", attributes.get("schemaurl", "")), True
    if name == "datamediatype":
        return media_type(attributes.get("datacontenttype")), True
    if name == "datacontentencoding":
        return attributes.get("datacontentencoding", ""), True
    value = attributes.get(name)
    return (value, True) if value is not None else ("", False)


def matches(compiled: Filter, event: Event) -> bool:
    return compiled(event) is not Result.FAIL


def compile_trigger(spec: Mapping[str, Any], path: str = "spec") -> Filter:
    """The predicate of a Trigger spec: `filters` if non-empty, else `filter.attributes`."""
    filters = spec.get("filters")
    if filters:
        return compile_filters(filters, f"{path}.filters")
    legacy = spec.get("filter")
    if legacy is None:
        return _no_filter
    if not isinstance(legacy, Mapping):
        raise FilterError(f"{path}.filter", "must be an object")
    attributes = legacy.get("attributes")
    if attributes is None:
        return _no_filter
    return attributes_filter(_string_map(attributes, f"{path}.filter.attributes", allow_empty=True))


def _no_filter(event: Event) -> Result:
    return Result.NONE


def attributes_filter(attributes: Mapping[str, str]) -> Filter:
    items = tuple(attributes.items())

    def check(event: Event) -> Result:
        for name, wanted in items:
            value, present = lookup(event, name)
            if not present or (wanted == "" and value == ""):
                return Result.FAIL
            if wanted != "" and wanted != value:
                return Result.FAIL
        return Result.PASS

    return check


def compile_filters(filters: Any, path: str) -> Filter:
    if not isinstance(filters, Sequence) or isinstance(filters, str):
        raise FilterError(path, "must be a list of filters")
    return _all([compile_one(f, f"{path}[{i}]") for i, f in enumerate(filters)])


def compile_one(expression: Any, path: str) -> Filter:
    """One Subscriptions API filter: an object with exactly one dialect."""
    if not isinstance(expression, Mapping):
        raise FilterError(path, "must be an object with one of " + ", ".join(DIALECTS))
    present = [d for d in DIALECTS if expression.get(d) not in (None, "", [], {})]
    unknown = sorted(set(expression) - set(DIALECTS))
    if unknown:
        raise FilterError(path, f"unknown dialect(s) {', '.join(map(str, unknown))}")
    if len(present) != 1:
        found = ", ".join(present) if present else "none"
        raise FilterError(path, f"exactly one dialect is required, found {found}")
    dialect = present[0]
    value, where = expression[dialect], f"{path}.{dialect}"
    if dialect == "cesql":
        raise FilterError(where, CESQL_REFUSED)
    if dialect == "not":
        return _not(compile_one(value, where))
    if dialect in ("all", "any"):
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise FilterError(where, "must be a non-empty list of filters")
        parts = [compile_one(f, f"{where}[{i}]") for i, f in enumerate(value)]
        return _all(parts) if dialect == "all" else _any(parts)
    pairs = _string_map(value, where, allow_empty=False)
    if dialect == "exact":
        return attributes_filter(pairs)
    return _affix(pairs, str.startswith if dialect == "prefix" else str.endswith)


def _string_map(value: Any, path: str, *, allow_empty: bool) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise FilterError(path, "must be a map of attribute names to strings")
    checked: dict[str, str] = {}
    for name, wanted in value.items():
        if not isinstance(name, str) or not ATTRIBUTE_NAME.fullmatch(name):
            raise FilterError(f"{path}.{name}", "attribute names are lower-case letters and digits")
        if not isinstance(wanted, str):
            raise FilterError(f"{path}.{name}", "must be a string")
        if not wanted and not allow_empty:
            raise FilterError(f"{path}.{name}", "must not be empty")
        checked[name] = wanted
    return checked


def _affix(pairs: Mapping[str, str], test: Callable[[str, str], bool]) -> Filter:
    items = tuple(pairs.items())

    def check(event: Event) -> Result:
        for name, wanted in items:
            value, present = lookup(event, name)
            if not present or not test(value, wanted):
                return Result.FAIL
        return Result.PASS

    return check


def _all(parts: list[Filter]) -> Filter:
    if len(parts) == 1:
        return parts[0]

    def check(event: Event) -> Result:
        result = Result.NONE
        for part in parts:
            result = part(event)
            if result is Result.FAIL:
                return Result.FAIL
        return result

    return check


def _any(parts: list[Filter]) -> Filter:
    def check(event: Event) -> Result:
        result = Result.NONE
        for part in parts:
            outcome = part(event)
            if outcome is Result.PASS:
                return Result.PASS
            if result is Result.NONE:
                result = outcome
        return result

    return check


def _not(inner: Filter) -> Filter:
    def check(event: Event) -> Result:
        outcome = inner(event)
        if outcome is Result.NONE:
            return Result.NONE
        return Result.FAIL if outcome is Result.PASS else Result.PASS

    return check
