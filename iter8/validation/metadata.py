"""Rules on `metadata`: names and namespaces as the Kubernetes API server checks them, so that
what validates is also what a store accepts."""

from __future__ import annotations

from collections.abc import Iterator

from iter8.api.base import ObjectMeta
from iter8.api.names import is_label, is_subdomain, not_a_label, not_a_subdomain
from iter8.validation.problems import Problem


def check_metadata(metadata: ObjectMeta) -> Iterator[Problem]:
    generate_name = (metadata.model_extra or {}).get("generateName")
    if not metadata.name and not generate_name:
        yield Problem("metadata.name", "is required")
    elif not is_subdomain(metadata.name):
        yield Problem("metadata.name", not_a_subdomain(metadata.name))
    if metadata.namespace is not None and not is_label(metadata.namespace):
        yield Problem("metadata.namespace", not_a_label(metadata.namespace))
