"""Metric references: `namespace/name`, or a bare `name` meaning the experiment's namespace.

Iter8 v2 keyed analysis data by `ns/name` but looked criteria up by the string as written, so a
bare name silently never matched (iter8-v2.md §2.1). Everything here goes through `MetricKey`,
which always carries the namespace.
"""

from __future__ import annotations

from typing import NamedTuple

BUILTIN_NAMESPACE = "iter8-system"


class MetricKey(NamedTuple):
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def resolve(reference: str, default_namespace: str) -> MetricKey:
    """`ns/name` → (ns, name); `name` → (default_namespace, name)."""
    namespace, _, name = reference.strip().rpartition("/")
    return MetricKey(namespace or default_namespace, name)


def is_well_formed(reference: str) -> bool:
    """One optional `/`, non-empty parts."""
    parts = reference.strip().split("/")
    return len(parts) in (1, 2) and all(parts)
