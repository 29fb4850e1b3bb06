"""`run:` — the author's bash script, with `@< … >@` placeholders passed as environment
variables (see `iter8.tasks.shell`), `$SCRATCH_DIR`, a deadline, and its output captured."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from iter8.security.redact import redact
from iter8.tasks.base import MAX_TIMEOUT, Params, TaskContext, TaskFailed, TaskResult, parse_params
from iter8.tasks.process import describe_failure, run_process
from iter8.tasks.shell import render_script
from iter8.tasks.template import TemplateError, evaluate


class RunParams(Params):
    script: str
    secret: str | None = None  # `ns/name` or `name`: what `@< .Secret "key" >@` reads
    timeout: float | None = Field(
        default=None, gt=0, le=MAX_TIMEOUT
    )  # seconds; default: the context's


class RunTask:
    name: ClassVar[str] = "run"

    def run(self, params: Mapping[str, Any], context: TaskContext) -> TaskResult:
        given = parse_params(RunParams, params)
        secret = context.secret(given.secret) if given.secret else None
        scope = context.scope(secret)
        try:
            rendered = render_script(given.script, lambda expression: evaluate(expression, scope))
        except TemplateError as error:
            raise TaskFailed(f"cannot render the script: {error}") from None
        timeout = given.timeout or context.timeout
        finished = run_process(
            ["bash", "-c", rendered.script, "iter8-run"],  # the script is one argv element
            cwd=context.directory(),
            env=context.process_env(rendered.env),
            timeout=timeout,
        )
        output = redact(finished.output, secret) or ""
        if finished.timed_out or finished.returncode != 0:
            reason = redact(describe_failure("the script", finished, timeout), secret) or ""
            raise TaskFailed(reason, output)
        return TaskResult("the script succeeded", output, {"placeholders": len(rendered.env)})


TASK = RunTask()
