"""A problem found in a manifest: where (a dotted field path) and what is wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    path: str  # e.g. `spec.versionInfo.candidates[1].weightObjRef.fieldPath`
    message: str

    def __str__(self) -> str:
        return printable(f"{self.path}: {self.message}")


def printable(text: str) -> str:
    """Control characters of a key or value escaped, so one problem stays one line of output."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def field_path(*parts: str | int) -> str:
    """`("spec", "traffic", 1, "percent")` → `spec.traffic[1].percent`."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text
