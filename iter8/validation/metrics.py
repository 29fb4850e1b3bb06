"""Rules on a `Metric`: enough to fetch it, and a jq expression that compiles."""

from __future__ import annotations

from collections.abc import Iterator

import jq

from iter8.api.metric import Metric
from iter8.api.references import is_well_formed
from iter8.validation.problems import Problem

BUILTIN_PROVIDER = "iter8"


def check_metric(metric: Metric) -> Iterator[Problem]:
    spec = metric.spec
    if spec.sample_size is not None and not is_well_formed(spec.sample_size):
        yield Problem("spec.sampleSize", f"{spec.sample_size!r} is not 'namespace/name' or 'name'")
    if spec.auth_type and not spec.secret:
        yield Problem("spec.secret", f"is required with authType {spec.auth_type}")
    if spec.mock is not None or spec.provider == BUILTIN_PROVIDER:
        for index, level in enumerate(spec.mock or []):
            if not level.name:
                yield Problem(f"spec.mock[{index}].name", "must name a version")
        return
    if not spec.url_template:
        yield Problem("spec.urlTemplate", "is required unless the metric is mocked or built in")
    if not spec.jq_expression:
        yield Problem("spec.jqExpression", "is required unless the metric is mocked or built in")
    else:
        try:
            jq.compile(spec.jq_expression)
        except ValueError as error:
            yield Problem("spec.jqExpression", f"does not compile: {str(error).splitlines()[0]}")
