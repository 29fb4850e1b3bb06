"""Rules on a task's inputs: its `with:` block read by the task's own model (what validates is
what runs, with the same bounds), then what a model cannot say: URLs are http(s), secrets and
objects are in namespaces the experiment may reach, and templates name what exists."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from iter8.api.experiment import Experiment, TaskSpec
from iter8.api.references import is_well_formed, resolve
from iter8.manifests import ManifestError, parse_documents
from iter8.metrics.load import LoadSpec
from iter8.tasks.library.common_apply import ApplyParams
from iter8.tasks.library.common_bash import BashParams
from iter8.tasks.library.common_exec import ExecParams
from iter8.tasks.library.common_readiness import ReadinessParams
from iter8.tasks.library.helm_upgrade import HelmParams
from iter8.tasks.library.knative_init_experiment import InitExperimentParams
from iter8.tasks.library.kustomize_apply import KustomizeParams
from iter8.tasks.library.notification_http import HttpParams
from iter8.tasks.library.notification_slack import SlackParams
from iter8.tasks.library.run import RunParams
from iter8.validation.loading import problems_of
from iter8.validation.metrics import secret_problem
from iter8.validation.problems import Problem
from iter8.validation.templates import template_problems
from iter8.validation.urls import url_problem
from iter8.validation.versions import namespace_problem

INPUTS: Mapping[str, type[BaseModel]] = {
    "common/apply": ApplyParams,
    "common/bash": BashParams,
    "common/exec": ExecParams,
    "common/readiness": ReadinessParams,
    "helm/upgrade": HelmParams,
    "knative/init-experiment": InitExperimentParams,
    "kustomize/apply": KustomizeParams,
    "metrics/collect": LoadSpec,
    "notification/http": HttpParams,
    "notification/slack": SlackParams,
    "run": RunParams,
}
"""Every task's input model (a test checks that each registered task has one)."""


def check_task_inputs(path: str, task: TaskSpec, experiment: Experiment) -> Iterator[Problem]:
    name = task.task or "run"
    model = INPUTS.get(name)
    if model is None:
        return  # an unknown task is reported by the caller
    params: dict[str, Any] = dict(task.with_ or {})
    if task.run is not None:
        params["script"] = task.run
    try:
        given = model.model_validate(params)
    except ValidationError as error:
        for problem in problems_of(error):
            yield Problem(_where(path, problem.path, task), problem.message)
        return
    for field, message in _semantic(given, experiment):
        yield Problem(_where(path, field, task), message)
    for field, message in template_problems(name, params, experiment):
        yield Problem(_where(path, field, task), message)


def _where(path: str, field: str, task: TaskSpec) -> str:
    if task.run is not None and field == "script":
        return f"{path}.run"
    return f"{path}.with" if field == "(document)" else f"{path}.with.{field}"


def _semantic(given: BaseModel, experiment: Experiment) -> Iterator[tuple[str, str]]:
    namespace = experiment.namespace
    if isinstance(given, LoadSpec):
        yield from _collect(given)
    if isinstance(given, HttpParams | SlackParams) and given.url is not None:
        problem = url_problem(given.url)
        if problem:
            yield "url", problem
    if isinstance(given, RunParams | HttpParams | SlackParams) and given.secret is not None:
        yield from _secret(given.secret, namespace)
    if isinstance(given, ReadinessParams):
        for index, ref in enumerate(given.obj_refs):
            if ref.namespace is not None:
                problem = namespace_problem(ref.namespace, namespace, "object")
                if problem:
                    yield f"objRefs[{index}].namespace", problem
    if isinstance(given, ApplyParams | KustomizeParams | HelmParams) and given.namespace:
        problem = namespace_problem(given.namespace, namespace, "object")
        if problem:
            yield "namespace", problem
    if isinstance(given, ApplyParams) and given.manifest is not None:
        yield from _manifest(given.manifest, namespace)


def _collect(given: LoadSpec) -> Iterator[tuple[str, str]]:
    try:
        _ = given.duration
    except ValueError as error:
        yield "time", str(error)
    for index, version in enumerate(given.versions):
        problem = url_problem(version.url)
        if problem:
            yield f"versions[{index}].url", problem
    if given.payload_url is not None:
        problem = url_problem(given.payload_url)
        if problem:
            yield "payloadURL", problem


def _secret(reference: str, namespace: str) -> Iterator[tuple[str, str]]:
    if not is_well_formed(reference):
        yield "secret", f"{reference!r} is not 'namespace/name' or 'name'"
        return
    problem = secret_problem(resolve(reference, namespace), namespace, "the experiment's")
    if problem:
        yield "secret", problem


def _manifest(manifest: Any, namespace: str) -> Iterator[tuple[str, str]]:
    """Objects given inline with a namespace of their own: it must be reachable too."""
    if isinstance(manifest, str):
        try:
            objects = [document.data for document in parse_documents(manifest, "manifest")]
        except ManifestError as error:
            yield "manifest", str(error)
            return
    else:
        objects = manifest if isinstance(manifest, list) else [manifest]
    for index, obj in enumerate(objects):
        metadata = obj.get("metadata") if isinstance(obj, dict) else None
        target = metadata.get("namespace") if isinstance(metadata, dict) else None
        if isinstance(target, str):
            problem = namespace_problem(target, namespace, "object")
            if problem:
                yield f"manifest[{index}].metadata.namespace", problem
