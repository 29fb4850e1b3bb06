"""`kustomize/apply`: `kustomize build <dir>`, its output applied through the store.

Runs the `kustomize` program, or `kubectl kustomize` (the same engine, built into kubectl)
when only kubectl is installed; both are argv lists, never a shell string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from iter8.tasks.base import MAX_TIMEOUT, Params, TaskContext, TaskFailed, TaskResult, parse_params
from iter8.tasks.library.common_apply import load_documents, resolve_path
from iter8.tasks.objects import apply_documents, check_reach, key_of
from iter8.tasks.process import describe_failure, find_program, run_process


class KustomizeParams(Params):
    dir: str  # the kustomization directory, relative to the work directory
    namespace: str | None = None  # for objects without one; default: the experiment's
    timeout: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT)


def build_argv(directory: str, env: Mapping[str, str]) -> list[str]:
    kustomize = find_program("kustomize", env)
    if kustomize is not None:
        return [kustomize, "build", directory]
    kubectl = find_program("kubectl", env)
    if kubectl is not None:
        return [kubectl, "kustomize", directory]
    raise TaskFailed(
        "kustomize not found on PATH (nor kubectl, whose `kubectl kustomize` would do)"
    )


class KustomizeTask:
    name: ClassVar[str] = "kustomize/apply"

    def run(self, params: Mapping[str, Any], context: TaskContext) -> TaskResult:
        given = parse_params(KustomizeParams, params)
        directory = resolve_path(given.dir, context)
        env = context.process_env()
        argv = build_argv(str(directory), env)
        timeout = given.timeout or context.timeout
        finished = run_process(argv, cwd=context.directory(), env=env, timeout=timeout)
        if finished.timed_out or finished.returncode != 0:
            raise TaskFailed(
                describe_failure(" ".join(argv[:2]), finished, timeout), finished.output
            )
        documents = load_documents(finished.stdout, f"{' '.join(argv[:2])} {directory}")
        namespace = given.namespace or context.namespace
        keys = [key_of(document, namespace) for document in documents]
        check_reach(keys, context.namespace, "with.dir (what it builds)")
        done = apply_documents(context.store, documents, namespace)
        return TaskResult("; ".join(done), details={"objects": done, "argv": argv})


TASK = KustomizeTask()
