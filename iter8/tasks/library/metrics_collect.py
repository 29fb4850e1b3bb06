"""`metrics/collect`: send load to each version and keep what was measured (Iter8 v2's built-in
metrics). The load generator is `iter8.metrics.load`; this task only adapts it: the result is
accumulated into `context.builtin_hists`, which the analyze function stores in
`status.analysis.aggregatedBuiltinHists`, so running it in every loop adds up, as in v2."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from pydantic import ValidationError

from iter8.metrics.builtin_data import merge
from iter8.metrics.load import LoadSpec, generate
from iter8.tasks.base import TaskContext, TaskFailed, TaskResult


class CollectTask:
    name: ClassVar[str] = "metrics/collect"

    def run(self, params: Mapping[str, Any], context: TaskContext) -> TaskResult:
        try:
            spec = LoadSpec.from_task(params)
            _ = spec.duration  # a bad `time` fails here, before any load is sent
        except ValidationError as error:
            problems = "; ".join(
                f"with.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
            )
            raise TaskFailed(problems) from None
        except ValueError as error:
            raise TaskFailed(f"with.time: {error}") from None
        try:
            measured = generate(spec, client=context.http, sleep=context.sleep)
        except httpx.HTTPError as error:  # the payloadURL could not be fetched
            raise TaskFailed(f"{type(error).__name__}: {error}") from None
        context.builtin_hists = merge(context.builtin_hists, measured)
        counts = {name: data.duration_histogram.count for name, data in measured.root.items()}
        errors = {name: data.errors for name, data in measured.root.items()}
        summary = ", ".join(f"{n}: {counts[n]} requests, {errors[n]} errors" for n in counts)
        return TaskResult(summary, details={"requests": counts, "errors": errors})


TASK = CollectTask()
