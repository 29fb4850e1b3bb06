"""Trigger filters: `filter.attributes` and every `filters` dialect, with Knative's semantics."""

from __future__ import annotations

from typing import Any

import pytest

from eventing.broker.event import Event
from eventing.broker.filters import (
    FilterError,
    Result,
    attributes_filter,
    compile_one,
    compile_trigger,
    matches,
)

EVENT = Event(
    {
        "specversion": "1.0",
        "id": "abc-1",
        "source": "/iter8/analyze",
        "type": "tools.iter8.analysis.completed",
        "subject": "default/canary",
        "datacontenttype": "application/json; charset=utf-8",
        "experiment": "default/canary",
        "iteration": "3",
        "empty": "",
    }
)
NO_SUBJECT = EVENT.replace(subject=None)


def passes(spec: dict[str, Any], event: Event = EVENT) -> bool:
    return matches(compile_trigger(spec), event)


# --- spec.filter.attributes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({}, True),
        ({"type": "tools.iter8.analysis.completed"}, True),
        ({"type": "tools.iter8.analysis"}, False),  # exact, not prefix
        ({"type": "TOOLS.iter8.analysis.completed"}, False),  # case-sensitive
        ({"type": "tools.iter8.analysis.completed", "iteration": "3"}, True),  # AND
        ({"type": "tools.iter8.analysis.completed", "iteration": "4"}, False),
        ({"experiment": ""}, True),  # empty value: present with any value
        ({"missing": ""}, False),  # ...but a missing extension fails
        ({"empty": ""}, False),  # present but empty fails too
        ({"subject": ""}, True),
        ({"datamediatype": "application/json"}, True),
        ({"time": "0001-01-01T00:00:00Z"}, True),  # no time: Go's zero time
    ],
)
def test_attribute_filter(attributes: dict[str, str], expected: bool) -> None:
    assert passes({"filter": {"attributes": attributes}}) is expected


def test_attribute_filter_any_value_needs_a_non_empty_context_attribute() -> None:
    assert not passes({"filter": {"attributes": {"subject": ""}}}, NO_SUBJECT)
    assert not passes({"filter": {"attributes": {"subject": "default/canary"}}}, NO_SUBJECT)


def test_no_filter_passes_everything() -> None:
    assert passes({})
    assert passes({"filter": {}})
    assert passes({"filters": []})
    assert attributes_filter({})(EVENT) is Result.PASS


# --- spec.filters (Subscriptions API) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"exact": {"type": "tools.iter8.analysis.completed"}}, True),
        ({"exact": {"type": "tools.iter8.analysis"}}, False),
        ({"exact": {"missing": "x"}}, False),
        ({"exact": {"iteration": "3", "experiment": "default/canary"}}, True),
        ({"prefix": {"type": "tools.iter8."}}, True),
        ({"prefix": {"type": "dev.knative."}}, False),
        ({"prefix": {"missing": "x"}}, False),
        ({"suffix": {"type": ".completed"}}, True),
        ({"suffix": {"source": "/init"}}, False),
        ({"not": {"exact": {"type": "tools.iter8.analysis.completed"}}}, False),
        ({"not": {"prefix": {"type": "dev."}}}, True),
        ({"all": [{"prefix": {"type": "tools."}}, {"suffix": {"type": "completed"}}]}, True),
        ({"all": [{"prefix": {"type": "tools."}}, {"suffix": {"type": "failed"}}]}, False),
        ({"any": [{"exact": {"type": "a"}}, {"exact": {"iteration": "3"}}]}, True),
        ({"any": [{"exact": {"type": "a"}}, {"exact": {"iteration": "4"}}]}, False),
        (
            {"not": {"any": [{"exact": {"type": "a"}}, {"not": {"exact": {"iteration": "3"}}}]}},
            True,
        ),
    ],
)
def test_dialects(expression: dict[str, Any], expected: bool) -> None:
    assert passes({"filters": [expression]}) is expected


def test_filters_list_is_all_and_overrides_filter() -> None:
    spec = {
        "filter": {"attributes": {"type": "something.else"}},
        "filters": [{"prefix": {"type": "tools."}}, {"exact": {"iteration": "3"}}],
    }
    assert passes(spec)
    spec["filters"].append({"exact": {"iteration": "9"}})
    assert not passes(spec)


def test_empty_filters_fall_back_to_filter() -> None:
    assert not passes({"filters": [], "filter": {"attributes": {"type": "x"}}})


@pytest.mark.parametrize(
    ("expression", "where"),
    [
        ({}, "spec.filters[0]"),
        ({"exact": {"type": "a"}, "suffix": {"type": "b"}}, "spec.filters[0]"),  # multiple dialects
        ({"exact": {"type": ""}}, "spec.filters[0].exact.type"),  # empty value
        ({"exact": {"Type": "a"}}, "spec.filters[0].exact.Type"),  # name charset
        ({"prefix": {"type": 3}}, "spec.filters[0].prefix.type"),
        ({"all": "not a list"}, "spec.filters[0].all"),
        ({"any": [{"bogus": {}}]}, "spec.filters[0].any[0]"),
        ({"regex": {"type": "a.*"}}, "spec.filters[0]"),
    ],
)
def test_invalid_filters_are_refused_with_their_path(expression: Any, where: str) -> None:
    with pytest.raises(FilterError) as caught:
        compile_trigger({"filters": [expression]})
    assert caught.value.path == where


def test_cesql_is_refused_with_a_clear_reason() -> None:
    with pytest.raises(FilterError) as caught:
        compile_one({"cesql": "type = 'x'"}, "spec.filters[0]")
    assert "cesql" in str(caught.value) and "not supported" in str(caught.value)


def test_legacy_attribute_names_are_checked() -> None:
    with pytest.raises(FilterError):
        compile_trigger({"filter": {"attributes": {"bad-name": "x"}}})
    with pytest.raises(FilterError):
        compile_trigger({"filter": {"attributes": {"type": 1}}})
