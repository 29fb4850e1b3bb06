"""A small, safe stand-in for the Go templates Iter8 v2 tasks used: no functions, no eval.

`@< expr >@` (the `run` task's delimiters) reads the experiment object: `.Name`, `.Namespace`,
`.Spec.Target`, `.Status.VersionRecommendedForPromotion` (Go field names, matched to the JSON
keys), `.Vars.<variable>` of the version recommended for promotion, and `.Secret "key"` from
the task's secret. `{{ .variable }}` (the older `common/exec` syntax) reads only the recommended
version's variables. Anything else is a TemplateError, never silently empty text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = re.compile(r"@<(.*?)>@", re.DOTALL)
VARIABLE = re.compile(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
_SECRET = re.compile(r"""\.Secret\s+(?:"([^"]*)"|`([^`]*)`)""")
_PATH = re.compile(r"(?:\.[A-Za-z_][A-Za-z0-9_-]*)+")
# Go's embedded ObjectMeta lets `.Name` mean `.ObjectMeta.Name`.
_METADATA = {
    "Name",
    "Namespace",
    "UID",
    "Labels",
    "Annotations",
    "ResourceVersion",
    "Generation",
    "GenerateName",
    "CreationTimestamp",
}


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Scope:
    """What templates may read. `variables` is called only when a template asks for them."""

    experiment: Mapping[str, Any]
    variables: Callable[[], Mapping[str, str]]
    secret: Mapping[str, str] | None = None


def evaluate(expression: str, scope: Scope) -> str:
    """The text of one `@< … >@` expression."""
    text = expression.strip()
    secret = _SECRET.fullmatch(text)
    if secret:
        key = secret[1] if secret[1] is not None else secret[2]
        if scope.secret is None:
            raise TemplateError(f"{text}: the task has no `secret`")
        if key not in scope.secret:
            raise TemplateError(f"{text}: the secret has no key {key!r}")
        return scope.secret[key]
    if not _PATH.fullmatch(text):
        raise TemplateError(
            f"unsupported template expression {text!r}: use a field path such as "
            '.Status.VersionRecommendedForPromotion, .Vars.<name> or .Secret "key"'
        )
    names = text[1:].split(".")
    if names[0] == "Vars":
        if len(names) != 2:
            raise TemplateError(f"{text}: write .Vars.<variable>")
        return _variable(names[1], scope, text)
    return _format(_field(scope.experiment, names, text), text)


def _variable(name: str, scope: Scope, shown: str) -> str:
    try:
        variables = scope.variables()
    except LookupError as error:
        raise TemplateError(f"{shown}: {error}") from None
    if name not in variables:
        raise TemplateError(f"{shown}: the recommended version has no variable {name!r}")
    return variables[name]


def _field(root: Mapping[str, Any], names: list[str], shown: str) -> Any:
    if names[0] in _METADATA:
        names = ["ObjectMeta", *names]
    value: Any = root
    for depth, name in enumerate(names):
        if depth == 0 and name == "TypeMeta":
            continue
        key = "metadata" if name == "ObjectMeta" and depth == 0 else _json_key(value, name)
        if not isinstance(value, Mapping) or key is None or key not in value:
            raise TemplateError(f"{shown} is not set in the experiment")
        value = value[key]
    return value


def _json_key(value: Any, go_name: str) -> str | None:
    """`VersionRecommendedForPromotion` → `versionRecommendedForPromotion`, `UID` → `uid`;
    a key written as in the JSON also matches."""
    if not isinstance(value, Mapping):
        return None
    upper = len(go_name) - len(go_name.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    if upper == len(go_name):
        camel = go_name.lower()
    elif upper > 1:
        camel = go_name[: upper - 1].lower() + go_name[upper - 1 :]
    else:
        camel = go_name[:1].lower() + go_name[1:]
    return camel if camel in value else go_name if go_name in value else camel


def _format(value: Any, shown: str) -> str:
    if value is None:
        raise TemplateError(f"{shown} is not set in the experiment")
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def render(text: str, scope: Scope) -> str:
    """Both syntaxes substituted as plain text: for parameters that no shell will parse."""
    text = PLACEHOLDER.sub(lambda m: evaluate(m[1], scope), text)
    return VARIABLE.sub(lambda m: _variable(m[1], scope, m[0]), text)


def render_variables(text: str, variables: Mapping[str, str]) -> str:
    """`{{ .promote }}` → the variable's value; an unknown variable is an error."""

    def value(match: re.Match[str]) -> str:
        if match[1] not in variables:
            raise TemplateError(f"{match[0]}: the recommended version has no variable {match[1]!r}")
        return variables[match[1]]

    return VARIABLE.sub(value, text)
