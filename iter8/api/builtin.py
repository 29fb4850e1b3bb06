"""The built-in metrics of `iter8-system`, shipped with the package."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from iter8.api.metric import Metric
from iter8.api.references import MetricKey


@cache
def builtin_metrics() -> dict[MetricKey, Metric]:
    text = resources.files("iter8.api").joinpath("builtin_metrics.yaml").read_text()
    metrics = (Metric.from_wire(document) for document in yaml.safe_load_all(text))
    return {MetricKey(m.namespace, m.metadata.name or ""): m for m in metrics}
