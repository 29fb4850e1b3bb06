"""The built-in metrics of `iter8-system`, shipped with the package."""

from __future__ import annotations

from functools import cache
from importlib import resources

from iter8.api.metric import Metric
from iter8.api.references import MetricKey
from iter8.manifests import parse_documents


@cache
def builtin_metrics() -> dict[MetricKey, Metric]:
    text = resources.files("iter8.api").joinpath("builtin_metrics.yaml").read_text()
    metrics = (Metric.from_wire(d.data) for d in parse_documents(text, "builtin_metrics.yaml"))
    return {MetricKey(m.namespace, m.metadata.name or ""): m for m in metrics}
