"""Any JSON-over-HTTP backend, the Iter8 v2 way: templated URL, params, headers and body, then jq.

It matches every Metric, at the lowest priority: whatever no other provider claims is fetched
exactly as Iter8 v2's analytics fetched it (iter8-v2.md §2.2).
"""

from __future__ import annotations

from typing import ClassVar

from iter8.analytics.observations import Observation
from iter8.api.metric import Metric
from iter8.metrics import query
from iter8.metrics.provider import FetchRequest


class RestProvider:
    name: ClassVar[str] = "rest"
    priority: ClassVar[int] = 0
    io: ClassVar[bool] = True

    def matches(self, metric: Metric) -> bool:
        return True

    def fetch(self, request: FetchRequest) -> Observation:
        document = query.send(query.build(request), request)
        return Observation(value=query.extract(document, request.metric.spec.jq_expression))


PROVIDER = RestProvider()
