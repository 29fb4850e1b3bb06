"""`common/bash` (Iter8 v2's handler, v0.1.18–v0.1.21): run `with.script` with bash.

The script is the experiment author's code, as a `run` task's is, and runs as `run` does: an author
who may create Experiments is trusted with the actions that run programs (docs/security.md). An
operator who does not want it turns it off (`ITER8_ENABLE_COMMON_BASH=false` in the functions'
environment); the task then fails with a message naming the field and the setting. `{{ .name }}`
placeholders (the variables of the version recommended for promotion, as v2 filled them) are
passed as environment variables, never spliced into the script (`iter8.tasks.shell`); it gets a
minimal environment (PATH, HOME in its own directory, the experiment's name, namespace and
action, no Secret and nothing else of the functions' environment), a deadline, and its output
(stdout and stderr, together) is capped: past `MAX_OUTPUT_BYTES` the shell stops it (`ulimit
-f`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from iter8.tasks.base import MAX_TIMEOUT, Params, TaskContext, TaskFailed, TaskResult, parse_params
from iter8.tasks.facts import recommended_variables
from iter8.tasks.process import describe_failure, run_process, truncate
from iter8.tasks.shell import render_script
from iter8.tasks.template import VARIABLE, TemplateError

ENABLE = "ITER8_ENABLE_COMMON_BASH"
MAX_OUTPUT_BYTES = 1 << 20
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
# A constant wrapper: the script is its first argument ($1), the output file its second.
_WRAPPER = 'ulimit -f {blocks} || exit 125; bash -c "$1" iter8-bash >"$2" 2>&1'


class BashParams(Params):
    script: str = Field(max_length=100_000)
    timeout: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT)


def enabled(environment: Mapping[str, str] = os.environ) -> bool:
    """On unless an operator said otherwise, as Iter8 v2 ran it."""
    return environment.get(ENABLE, "").strip().lower() not in ("0", "false", "no", "off")


class BashTask:
    name: ClassVar[str] = "common/bash"

    def run(self, params: Mapping[str, Any], context: TaskContext) -> TaskResult:
        given = parse_params(BashParams, params)
        if not enabled(context.base_env()):
            raise TaskFailed(
                "common/bash is turned off here: its with.script is a script from the experiment, "
                f"which this installation does not run ({ENABLE}=false in the functions' "
                f"environment; an operator enables it with {ENABLE}=true)"
            )
        script = VARIABLE.sub(lambda m: f"@< .{m[1]} >@", given.script)  # v2's {{ .name }}
        try:
            rendered = render_script(script, lambda expression: _value(expression, context))
        except TemplateError as error:
            raise TaskFailed(f"cannot render with.script: {error}") from None
        directory = context.directory()
        output = directory / "bash-output"
        scratch = directory / "scratch"
        scratch.mkdir(exist_ok=True)
        env = {
            "PATH": context.base_env().get("PATH", DEFAULT_PATH),
            "HOME": str(directory),
            "LANG": "C.UTF-8",
            "SCRATCH_DIR": str(scratch),
            "EXPERIMENT_NAME": context.experiment.metadata.name or "",
            "EXPERIMENT_NAMESPACE": context.namespace,
            "ACTION": context.action,
            **rendered.env,
        }
        timeout = given.timeout or context.timeout
        wrapper = _WRAPPER.format(blocks=MAX_OUTPUT_BYTES // 512)
        finished = run_process(
            ["bash", "-c", wrapper, "iter8-bash", rendered.script, str(output)],
            cwd=directory,
            env=env,
            timeout=timeout,
        )
        text = truncate(output.read_text(errors="replace")) if output.exists() else ""
        if finished.returncode == 128 + 25:  # SIGXFSZ: the output outgrew its cap
            raise TaskFailed(f"the script wrote more than {MAX_OUTPUT_BYTES} bytes", text)
        if finished.timed_out or finished.returncode != 0:
            raise TaskFailed(describe_failure("the script", finished, timeout), text)
        return TaskResult("the script succeeded", text, {"placeholders": len(rendered.env)})


def _value(expression: str, context: TaskContext) -> str:
    name = expression.strip().removeprefix(".")
    try:
        variables = recommended_variables(context.experiment)
    except LookupError as error:
        raise TemplateError(str(error)) from None
    if name not in variables:
        raise TemplateError(f"{{{{ .{name} }}}}: the recommended version has no variable {name!r}")
    return variables[name]


TASK = BashTask()
