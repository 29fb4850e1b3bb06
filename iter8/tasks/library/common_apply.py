"""`common/apply`: "kubectl apply -f" without kubectl — each document of `with.file` (relative
to the work directory) or `with.manifest` (YAML text, an object, or a list of objects) is
created or replaced through the store. The file path may use `@< … >@` and `{{ .var }}`, so one
task can apply the promoted version's manifest."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from iter8.manifests import ManifestError, parse_documents
from iter8.tasks.base import Params, TaskContext, TaskFailed, TaskResult, parse_params
from iter8.tasks.objects import apply_documents, check_reach, key_of
from iter8.tasks.template import TemplateError, render


class ApplyParams(Params):
    file: str | None = None
    manifest: str | dict[str, Any] | list[dict[str, Any]] | None = None
    namespace: str | None = None  # for documents without one; default: the experiment's


def load_documents(text: str, source: str) -> list[Any]:
    try:
        return [document.data for document in parse_documents(text, source)]
    except ManifestError as error:
        raise TaskFailed(f"{source}: {error}") from None


def resolve_path(raw: str, context: TaskContext) -> Path:
    try:
        rendered = render(raw, context.scope())
    except TemplateError as error:
        raise TaskFailed(f"file: {error}") from None
    return context.directory() / rendered  # an absolute path stays absolute


class ApplyTask:
    name: ClassVar[str] = "common/apply"

    def run(self, params: Mapping[str, Any], context: TaskContext) -> TaskResult:
        given = parse_params(ApplyParams, params)
        if (given.file is None) == (given.manifest is None):
            raise TaskFailed("needs exactly one of `file` and `manifest`")
        if given.file is not None:
            path = resolve_path(given.file, context)
            try:
                documents = load_documents(path.read_text(), str(path))
            except OSError as error:
                raise TaskFailed(f"cannot read {path}: {error.strerror}") from None
        elif isinstance(given.manifest, str):
            documents = load_documents(given.manifest, "manifest")
        else:
            manifest = given.manifest
            documents = manifest if isinstance(manifest, list) else [manifest]
        if not documents:
            raise TaskFailed("the manifest holds no objects")
        namespace = given.namespace or context.namespace
        keys = [key_of(document, namespace) for document in documents]
        check_reach(keys, context.namespace, "with.file" if given.file else "with.manifest")
        done = apply_documents(context.store, documents, namespace)
        return TaskResult("; ".join(done), details={"objects": done})


TASK = ApplyTask()
