"""A problem found in a manifest: where (a dotted field path) and what is wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    path: str  # e.g. `spec.versionInfo.candidates[1].weightObjRef.fieldPath`
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def field_path(*parts: str | int) -> str:
    """`("spec", "traffic", 1, "percent")` → `spec.traffic[1].percent`."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text
