"""Run an action: its tasks in order, each behind its `if:`, stopping at the first failure.

Like Iter8 v2's task runner, a failed task fails the action; unlike it, the result says which
task failed and why, and a skipped task says which guard skipped it.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from iter8.api.conditions import ConditionError, evaluate, parse
from iter8.api.experiment import TaskSpec
from iter8.registry import discover
from iter8.tasks.base import Task, TaskContext, TaskFailed, TaskResult

log = logging.getLogger(__name__)

RUN = "run"  # the name of the task behind a `run:` script


@functools.cache
def all_tasks() -> dict[str, Task]:
    return discover(importlib.import_module("iter8.tasks.library"), "TASK")


@dataclass(frozen=True)
class TaskOutcome:
    index: int
    task: str  # `task:` name, or "run"
    status: Literal["succeeded", "skipped", "failed"]
    message: str = ""
    output: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionResult:
    outcomes: tuple[TaskOutcome, ...]

    @property
    def ok(self) -> bool:
        return all(o.status != "failed" for o in self.outcomes)

    @property
    def failed(self) -> TaskOutcome | None:
        return next((o for o in self.outcomes if o.status == "failed"), None)

    @property
    def message(self) -> str:
        """Why the action failed, or what it did."""
        failed = self.failed
        if failed is not None:
            return f"task {failed.index} ({failed.task}) failed: {failed.message}"
        ran = sum(o.status == "succeeded" for o in self.outcomes)
        skipped = len(self.outcomes) - ran
        return f"{ran} task(s) succeeded, {skipped} skipped"


def run_action(
    tasks: Sequence[TaskSpec],
    context: TaskContext,
    *,
    registry: Mapping[str, Task] | None = None,
) -> ActionResult:
    if registry is None:  # an empty action (most experiments' `start`) loads no task module
        registry = all_tasks() if tasks else {}
    outcomes: list[TaskOutcome] = []
    try:
        for index, spec in enumerate(tasks):
            outcome = _run_one(index, spec, context, registry)
            outcomes.append(outcome)
            log.info("task %d (%s) %s: %s", index, outcome.task, outcome.status, outcome.message)
            if outcome.status == "failed":
                break
    finally:
        context.cleanup()
    return ActionResult(tuple(outcomes))


def _run_one(
    index: int, spec: TaskSpec, context: TaskContext, registry: Mapping[str, Task]
) -> TaskOutcome:
    label = spec.task or RUN
    if bool(spec.task) == bool(spec.run):
        return TaskOutcome(index, label, "failed", "needs exactly one of 'task' and 'run'")
    if spec.if_ is not None:
        try:
            holds = evaluate(parse(spec.if_), context.facts or {})
        except ConditionError as error:
            return TaskOutcome(index, label, "failed", f"if: {spec.if_!r} does not parse: {error}")
        if not holds:
            return TaskOutcome(index, label, "skipped", f"if: {spec.if_} is false")
    task = registry.get(label)
    if task is None:
        known = ", ".join(sorted(n for n in registry if n != RUN))
        return TaskOutcome(index, label, "failed", f"unknown task {label!r}; known: {known}")
    params: dict[str, Any] = dict(spec.with_ or {})
    if spec.run:
        params["script"] = spec.run
    try:
        result: TaskResult = task.run(params, context)
    except TaskFailed as failure:
        return TaskOutcome(index, label, "failed", failure.message, failure.output)
    except Exception as error:  # a task's bug must fail the action, not the function
        log.exception("task %d (%s) raised", index, label)
        return TaskOutcome(index, label, "failed", f"{type(error).__name__}: {error}")
    return TaskOutcome(index, label, "succeeded", result.message, result.output, result.details)
