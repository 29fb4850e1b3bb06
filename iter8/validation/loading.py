"""From a parsed YAML document to a model, or to every structural problem at once.

pydantic already collects all errors of a document; this module turns them into
`Problem`s that name the field the way the user wrote it (camelCase, `[i]` for list items).
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from pydantic import ValidationError

from iter8.api.base import ApiModel
from iter8.validation.problems import Problem, field_path

Model = TypeVar("Model", bound=ApiModel)


def load(model: type[Model], data: Any) -> Model | list[Problem]:
    """The model for `data`, or the problems that prevent it; never raises for bad input."""
    if not isinstance(data, dict):
        return [Problem("(document)", f"must be a mapping, not {type(data).__name__}")]
    try:
        return model.from_wire(data)
    except ValidationError as error:
        return problems_of(error)
    except (ValueError, TypeError, RecursionError) as error:  # defensive: odd YAML values
        return [Problem("(document)", f"cannot be read: {error}")]


def load_lenient(model: type[Model], data: Any) -> tuple[Model | None, list[Problem]]:
    """Like `load`, but also a model of what is left once the bad fields are taken out.

    That partial model lets the semantic rules run too, so the user sees every problem at once,
    not the structural ones first and the rest on the next try.
    """
    result = load(model, data)
    if not isinstance(result, list):
        return result, []
    problems = result
    if not isinstance(data, dict):
        return None, problems
    pruned = copy.deepcopy(data)
    for _ in range(8):  # each pass removes at least one field; real documents need one or two
        try:
            return model.from_wire(pruned), problems
        except ValidationError as error:
            if not all(_remove(pruned, detail) for detail in error.errors()):
                return None, problems
        except (ValueError, TypeError, RecursionError):
            return None, problems
    return None, problems


def _remove(data: dict[str, Any], detail: Any) -> bool:
    """Take the failing field out; for a missing field, its parent (it cannot stand without it).
    A list item is never removed alone (later indices would shift): its whole list goes."""
    loc = [part for part in detail["loc"] if _is_field(part)]
    if detail["type"] == "missing":
        loc = loc[:-1]
    while loc and isinstance(loc[-1], int):
        loc = loc[:-1]
    if not loc:
        return False
    parent: Any = data
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return False
    if not isinstance(parent, dict) or loc[-1] not in parent:
        return False
    del parent[loc[-1]]
    return True


def problems_of(error: ValidationError) -> list[Problem]:
    """One problem per field (the first pydantic gives), named as the user wrote it."""
    by_path: dict[str, str] = {}
    for detail in error.errors(include_url=False):
        path = field_path(*(part for part in detail["loc"] if _is_field(part))) or "(document)"
        by_path.setdefault(path, _message(detail))
    return [Problem(path, message) for path, message in by_path.items()]


def _is_field(part: object) -> bool:
    """pydantic adds union-member tags (`int`, `function-after[...]`) to locations; drop them."""
    return isinstance(part, int) or (
        isinstance(part, str) and "[" not in part and part not in _TAGS
    )


_TAGS = {"int", "float", "str", "bool", "list", "dict", "none", "literal", "model"}


def _message(detail: Any) -> str:
    kind = detail["type"]
    context = detail.get("ctx") or {}
    messages = {
        "missing": "is required",
        "literal_error": f"must be one of {context.get('expected')}",
        "string_too_short": "must not be empty",
        "greater_than_equal": f"must be at least {context.get('ge')}",
        "less_than_equal": f"must be at most {context.get('le')}",
        "int_type": "must be an integer",
        "int_parsing": "must be an integer",
        "int_from_float": "must be a whole number",
        "int_parsing_size": "is too large",
        "finite_number": "must be a finite number",
        "string_type": "must be a string",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "list_type": "must be a list",
        "dict_type": "must be a mapping",
        "model_type": "must be a mapping",
        "model_attributes_type": "must be a mapping",
    }
    if kind in messages:
        return messages[kind]
    return str(detail["msg"]).removeprefix("Value error, ")
