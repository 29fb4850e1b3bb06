"""Metrics and versions written the way a manifest writes them."""

from __future__ import annotations

from typing import Any

from iter8.api.base import NamedValue
from iter8.api.experiment import VersionDetail
from iter8.api.metric import Metric


def metric(name: str = "m", namespace: str = "ns", **spec: Any) -> Metric:
    """A Metric from camelCase spec fields, e.g. `metric(urlTemplate=..., jqExpression=...)`."""
    return Metric.from_wire({"metadata": {"name": name, "namespace": namespace}, "spec": spec})


def version(name: str, /, **variables: str) -> VersionDetail:
    named = [NamedValue(name=k, value=v) for k, v in variables.items()]
    return VersionDetail(name=name, variables=named or None)


def params(**values: str) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in values.items()]
