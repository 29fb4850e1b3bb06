"""Rules on `spec.strategy.actions`: each task is a `task` or a `run`, and its `if:` parses."""

from __future__ import annotations

from collections.abc import Iterator

from iter8.api.conditions import ConditionError, parse
from iter8.api.experiment import Experiment, TaskSpec
from iter8.tasks import all_tasks
from iter8.validation.problems import Problem


def check_actions(experiment: Experiment) -> Iterator[Problem]:
    for action, tasks in (experiment.spec.strategy.actions or {}).items():
        for index, task in enumerate(tasks):
            yield from _check_task(f"spec.strategy.actions.{action}[{index}]", task)


def _check_task(path: str, task: TaskSpec) -> Iterator[Problem]:
    if bool(task.task) == bool(task.run):
        yield Problem(path, "needs exactly one of 'task' and 'run'")
    elif task.task and task.task not in all_tasks():
        known = ", ".join(sorted(name for name in all_tasks() if name != "run"))
        yield Problem(f"{path}.task", f"unknown task {task.task!r}; known: {known}")
    if task.if_ is not None:
        try:
            parse(task.if_)
        except ConditionError as error:
            yield Problem(f"{path}.if", f"{task.if_!r} does not parse: {error}")
    if task.task == "metrics/collect":
        yield from _check_collect(path, task)


def _check_collect(path: str, task: TaskSpec) -> Iterator[Problem]:
    versions = (task.with_ or {}).get("versions")
    if not isinstance(versions, list) or not versions:
        yield Problem(f"{path}.with.versions", "is required: a list of {name, url}")
        return
    for index, version in enumerate(versions):
        for field in ("name", "url"):
            if not isinstance(version, dict) or not isinstance(version.get(field), str):
                yield Problem(f"{path}.with.versions[{index}].{field}", "is required (a string)")
