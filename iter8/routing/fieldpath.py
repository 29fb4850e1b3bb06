"""`weightObjRef.fieldPath` (a kubectl-style JSONPath such as `.spec.traffic[1].percent`) as a
list of keys, as an RFC 6901 JSON pointer, and as a lookup in an object.

Iter8 v2 turned the path into a pointer by string replacement, so a key holding `/` or `~`
(annotation keys do) produced a pointer to somewhere else. Here the path is parsed once and each
key is escaped on its own.
"""

from __future__ import annotations

import re
from typing import Any

Key = str | int

# `.name`, `[3]`, `['a.b/c']` or `["a.b/c"]`
_SEGMENT = re.compile(
    r"""\.(?P<name>[^.\[\]'"]+)|\[(?P<index>\d+)\]|\[(?P<q>['"])(?P<quoted>.*?)(?P=q)\]"""
)


class FieldPathError(ValueError):
    """The path does not parse, or does not lead to a value in the object."""


def parse(field_path: str) -> tuple[Key, ...]:
    """`.spec.traffic[1].percent` → `("spec", "traffic", 1, "percent")`.

    Accepts kubectl's optional `{…}` wrapper and a leading `$`; the path must start with `.`
    (the rule Iter8 v2 checks) and name at least one key.
    """
    text = field_path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    text = text.removeprefix("$")
    if not text.startswith("."):
        raise FieldPathError(f"field path {field_path!r} must start with '.'")
    keys: list[Key] = []
    position = 0
    while position < len(text):
        match = _SEGMENT.match(text, position)
        if match is None:
            raise FieldPathError(f"field path {field_path!r}: cannot parse {text[position:]!r}")
        if match["index"] is not None:
            keys.append(int(match["index"]))
        else:
            keys.append(match["name"] if match["name"] is not None else match["quoted"])
        position = match.end()
    return tuple(keys)


def escape(key: Key) -> str:
    """One reference token of a JSON pointer: `~` → `~0`, then `/` → `~1` (RFC 6901 §3)."""
    return str(key).replace("~", "~0").replace("/", "~1")


def to_pointer(keys: tuple[Key, ...] | str) -> str:
    """`.spec.traffic[1].percent` (or its keys) → `/spec/traffic/1/percent`."""
    if isinstance(keys, str):
        keys = parse(keys)
    return "".join(f"/{escape(key)}" for key in keys)


def format_path(keys: tuple[Key, ...]) -> str:
    """The keys back as a readable field path, for messages."""
    parts = []
    for key in keys:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif re.fullmatch(r"[^.\[\]'\"/~]+", key):
            parts.append(f".{key}")
        else:
            parts.append(f"[{key!r}]")
    return "".join(parts)


def lookup(obj: Any, keys: tuple[Key, ...]) -> Any:
    """The value at `keys`; FieldPathError naming the first key that is not there."""
    value = obj
    for depth, key in enumerate(keys):
        if isinstance(key, int):
            if not isinstance(value, list):
                raise FieldPathError(f"{format_path(keys[:depth]) or '.'} is not a list")
            if key >= len(value):
                raise FieldPathError(
                    f"{format_path(keys[: depth + 1])} does not exist "
                    f"({format_path(keys[:depth])} has {len(value)} entries)"
                )
        elif not isinstance(value, dict):
            raise FieldPathError(f"{format_path(keys[:depth]) or '.'} is not an object")
        elif key not in value:
            raise FieldPathError(f"{format_path(keys[: depth + 1])} does not exist")
        value = value[key]
    return value
