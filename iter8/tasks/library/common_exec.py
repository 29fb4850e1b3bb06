"""`common/exec` (Iter8's 2021 task library): run `cmd` with `args`, no shell, after replacing
`{{ .name }}` with the variables of the version recommended for promotion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from iter8.tasks.base import MAX_TIMEOUT, Params, TaskContext, TaskFailed, TaskResult, parse_params
from iter8.tasks.facts import recommended_variables
from iter8.tasks.process import describe_failure, find_program, run_process
from iter8.tasks.template import TemplateError, render_variables


class ExecParams(Params):
    cmd: str
    args: list[str] = Field(default_factory=list)
    timeout: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT)


class ExecTask:
    name: ClassVar[str] = "common/exec"

    def run(self, params: Mapping[str, Any], context: TaskContext) -> TaskResult:
        given = parse_params(ExecParams, params)
        words = [given.cmd, *given.args]
        if any("{{" in word for word in words):
            try:
                variables = recommended_variables(context.experiment)
                words = [render_variables(word, variables) for word in words]
            except (LookupError, TemplateError) as error:
                raise TaskFailed(str(error)) from None
        env = context.process_env()
        program = find_program(words[0], env) if "/" not in words[0] else words[0]
        if program is None:
            raise TaskFailed(f"{words[0]} not found on PATH")
        timeout = given.timeout or context.timeout
        finished = run_process(
            [program, *words[1:]], cwd=context.directory(), env=env, timeout=timeout
        )
        if finished.timed_out or finished.returncode != 0:
            raise TaskFailed(describe_failure(words[0], finished, timeout), finished.output)
        return TaskResult(f"{words[0]} succeeded", finished.output, {"argv": words})


TASK = ExecTask()
