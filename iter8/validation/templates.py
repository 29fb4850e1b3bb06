"""Rules on the templates of tasks: every `@< … >@` and `{{ .var }}` names something that exists.

The same grammar as `iter8.tasks.template`, checked against the Experiment's schema (status
fields count: they exist by the time the task runs) and what the manifest itself holds (unknown
fields are kept, so a template may read them). `.Vars.x` and `{{ .x }}` need a version with the
variable; `.Secret "key"` needs a task with a `secret`. A path through a list cannot be read.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from iter8.api.experiment import Experiment
from iter8.tasks.template import _METADATA, _PATH, _SECRET, PLACEHOLDER, VARIABLE, _json_key

# Which `with` fields each task renders, and with which syntax (`both`: `@< >@` and `{{ }}`).
TEMPLATED: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "run": ("placeholders", ("script",)),
    "common/exec": ("variables", ("cmd", "args")),
    "common/apply": ("both", ("file",)),
    "kustomize/apply": ("both", ("dir",)),
    "helm/upgrade": ("both", ("chart", "values", "set")),
    "notification/http": ("both", ("body",)),
    "notification/slack": ("both", ("text",)),
}


def template_problems(
    task: str, params: Mapping[str, Any], experiment: Experiment
) -> Iterator[tuple[str, str]]:
    """(field, problem) for each template in the task's rendered fields that cannot render."""
    syntax, fields = TEMPLATED.get(task, ("", ()))
    has_secret = bool(params.get("secret"))
    for field in fields:
        for text in _strings(params.get(field)):
            if syntax in ("placeholders", "both"):
                for match in PLACEHOLDER.finditer(text):
                    problem = expression_problem(match[1], experiment, has_secret)
                    if problem:
                        yield field, f"{match[0]!r}: {problem}"
            if syntax in ("variables", "both"):
                for match in VARIABLE.finditer(text):
                    problem = variable_problem(match[1], experiment)
                    if problem:
                        yield field, f"{match[0]!r}: {problem}"


def expression_problem(expression: str, experiment: Experiment, has_secret: bool) -> str | None:
    text = expression.strip()
    if _SECRET.fullmatch(text):
        return None if has_secret else "the task has no `secret` to read"
    if not _PATH.fullmatch(text):
        return (
            "not a field path such as .Status.VersionRecommendedForPromotion, .Vars.<name> "
            'or .Secret "key"'
        )
    names = text[1:].split(".")
    if names[0] == "Vars":
        return variable_problem(names[1], experiment) if len(names) == 2 else "write .Vars.<name>"
    return field_problem(names, experiment)


def variable_problem(name: str, experiment: Experiment) -> str | None:
    for version in experiment.versions:
        if any(variable.name == name for variable in version.variables or []):
            return None
    return f"no version has a variable {name!r}"


def field_problem(names: list[str], experiment: Experiment) -> str | None:
    """Why the Go field path `names` (e.g. Spec, Target) reads nothing, or None."""
    if names[0] in _METADATA:
        names = ["ObjectMeta", *names]
    model: Any = Experiment
    value: Any = experiment.to_wire()
    for depth, name in enumerate(names):
        if depth == 0 and name == "TypeMeta":
            continue
        fields = _fields_by_alias(model)
        if depth == 0 and name == "ObjectMeta":
            key = "metadata"
        else:
            keys = {**dict.fromkeys(fields), **(value if isinstance(value, Mapping) else {})}
            key = _json_key(keys, name) or name
        known = key in fields or (isinstance(value, Mapping) and key in value)
        if not known:
            where = "." + ".".join(names[:depth]) if depth else "the Experiment"
            return f"{where} has no field {name}"
        value = value.get(key) if isinstance(value, Mapping) else None
        annotation = fields.get(key)
        if annotation is None:  # a field the manifest adds: the runtime reads what it holds
            model = None
            continue
        model = _model_of(annotation)
        if model is None:
            if depth == len(names) - 1 or _is_mapping(annotation):
                return None  # a mapping's keys are the runtime's to check
            kind = "a list: a template cannot index it" if _is_list(annotation) else "a value"
            return f".{'.'.join(names[: depth + 1])} is {kind}"
    return None


def _fields_by_alias(model: Any) -> dict[str, Any]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return {}
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def _members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _is_list(annotation: Any) -> bool:
    return any(typing.get_origin(m) is list for m in _members(annotation))


def _is_mapping(annotation: Any) -> bool:
    return any(m is Any or m is dict or typing.get_origin(m) is dict for m in _members(annotation))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
