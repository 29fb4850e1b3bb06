"""Rules on `spec.strategy.actions`: each task is a `task` or a `run`, its `if:` parses, and its
inputs are what the task accepts (iter8.validation.tasks)."""

from __future__ import annotations

from collections.abc import Iterator

from iter8.api.conditions import ConditionError, parse
from iter8.api.experiment import Experiment, TaskSpec
from iter8.tasks import all_tasks
from iter8.validation.problems import Problem


def check_actions(experiment: Experiment) -> Iterator[Problem]:
    for action, tasks in (experiment.spec.strategy.actions or {}).items():
        for index, task in enumerate(tasks):
            yield from _check_task(f"spec.strategy.actions.{action}[{index}]", task, experiment)


def _check_task(path: str, task: TaskSpec, experiment: Experiment) -> Iterator[Problem]:
    if bool(task.task) == bool(task.run):
        yield Problem(path, "needs exactly one of 'task' and 'run'")
    elif task.task and task.task not in all_tasks():
        known = ", ".join(sorted(name for name in all_tasks() if name != "run"))
        yield Problem(f"{path}.task", f"unknown task {task.task!r}; known: {known}")
    else:
        # the tasks' own checks load the task library, YAML and the routers (~30 ms), which an
        # experiment without actions never needs: analyze's rehearsal admits one at every start
        from iter8.validation.tasks import check_task_inputs

        yield from check_task_inputs(path, task, experiment)
    if task.if_ is not None:
        try:
            parse(task.if_)
        except ConditionError as error:
            yield Problem(f"{path}.if", f"{task.if_!r} does not parse: {error}")
