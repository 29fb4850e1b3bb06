"""Actions and their tasks (Iter8 v2 §1.6): `run` scripts, notifications, readiness, and
promotion by YAML, Kustomize or Helm, run in order behind `if:` guards."""

from iter8.tasks.base import Task, TaskContext, TaskFailed, TaskResult
from iter8.tasks.facts import condition_facts, summary
from iter8.tasks.runner import ActionResult, TaskOutcome, all_tasks, run_action

__all__ = [
    "ActionResult",
    "Task",
    "TaskContext",
    "TaskFailed",
    "TaskOutcome",
    "TaskResult",
    "all_tasks",
    "condition_facts",
    "run_action",
    "summary",
]
