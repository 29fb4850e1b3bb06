"""`helm/upgrade`: `helm upgrade --install` the promoted version's release.

Values files and `--set` values may name the recommended version's variables (`{{ .promote }}`
as in Iter8's older samples, or `@< .Vars.promote >@`), so one task promotes whichever version
won. The argv is a list; nothing is parsed by a shell. Helm talks to the cluster in its own
kubeconfig, not to this project's store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from iter8.tasks.base import MAX_TIMEOUT, Params, TaskContext, TaskFailed, TaskResult, parse_params
from iter8.tasks.process import describe_failure, find_program, run_process
from iter8.tasks.template import Scope, TemplateError, render


class HelmParams(Params):
    release: str
    chart: str
    namespace: str | None = None  # default: the experiment's
    version: str | None = None
    values: list[str] = Field(default_factory=list)
    set: dict[str, str] = Field(default_factory=dict)
    install: bool = True
    wait: bool = False
    args: list[str] = Field(default_factory=list)  # more flags, passed as given
    timeout: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT)


def helm_argv(helm: str, given: HelmParams, namespace: str, scope: Scope) -> list[str]:
    """The command line, with templates rendered."""

    def text(value: str, where: str) -> str:
        try:
            return render(value, scope)
        except TemplateError as error:
            raise TaskFailed(f"{where}: {error}") from None

    argv = [helm, "upgrade", given.release, text(given.chart, "chart"), "--namespace", namespace]
    if given.install:
        argv.append("--install")
    if given.version:
        argv += ["--version", given.version]
    for index, path in enumerate(given.values):
        argv += ["--values", text(path, f"values[{index}]")]
    for key, value in given.set.items():
        argv += ["--set", f"{key}={text(value, f'set.{key}')}"]
    if given.wait:
        argv.append("--wait")
    return argv + list(given.args)


class HelmTask:
    name: ClassVar[str] = "helm/upgrade"

    def run(self, params: Mapping[str, Any], context: TaskContext) -> TaskResult:
        given = parse_params(HelmParams, params)
        env = context.process_env()
        helm = find_program("helm", env)
        if helm is None:
            raise TaskFailed("helm not found on PATH")
        argv = helm_argv(helm, given, given.namespace or context.namespace, context.scope())
        timeout = given.timeout or context.timeout
        finished = run_process(argv, cwd=context.directory(), env=env, timeout=timeout)
        if finished.timed_out or finished.returncode != 0:
            raise TaskFailed(describe_failure("helm upgrade", finished, timeout), finished.output)
        return TaskResult(
            f"helm upgrade {given.release} succeeded", finished.output, {"argv": argv}
        )


TASK = HelmTask()
