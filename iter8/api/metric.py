"""The `Metric` of `iter8.tools/v2alpha2`: how to fetch one number per version."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from iter8.api.base import ApiModel, NamedValue, ObjectMeta
from iter8.api.experiment import API_VERSION
from iter8.api.quantity import Quantity


class MockLevel(ApiModel):
    name: str
    level: Quantity


class MetricSpec(ApiModel):
    description: str | None = None
    units: str | None = None
    provider: str | None = None
    type: Literal["Counter", "Gauge"] | None = None
    sample_size: str | None = None
    params: list[NamedValue] | None = None
    body: str | None = None
    method: Literal["GET", "POST"] | None = None
    auth_type: Literal["Basic", "Bearer", "APIKey"] | None = None
    secret: str | None = None
    header_templates: list[NamedValue] | None = None
    jq_expression: str | None = None
    url_template: str | None = None
    mock: list[MockLevel] | None = None


class Metric(ApiModel):
    api_version: Literal["iter8.tools/v2alpha2"] = API_VERSION
    kind: Literal["Metric"] = "Metric"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: MetricSpec

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    @property
    def key(self) -> str:
        """`<namespace>/<name>`: how Iter8 v2 keys metrics in `status.metrics` and analysis data."""
        return f"{self.namespace}/{self.metadata.name}"
