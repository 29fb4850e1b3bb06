"""Rules on `metadata`: names and namespaces as the Kubernetes API server checks them, so that
what validates is also what a store accepts."""

from __future__ import annotations

import re
from collections.abc import Iterator

from iter8.api.base import ObjectMeta
from iter8.validation.problems import Problem

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def check_metadata(metadata: ObjectMeta) -> Iterator[Problem]:
    generate_name = (metadata.model_extra or {}).get("generateName")
    if not metadata.name and not generate_name:
        yield Problem("metadata.name", "is required")
    elif not is_subdomain(metadata.name):
        yield Problem(
            "metadata.name",
            f"{_shown(metadata.name)} is not a lowercase RFC 1123 subdomain (at most 253 "
            "characters: lower case letters, digits, '-' and '.', starting and ending with a "
            "letter or digit)",
        )
    if metadata.namespace is not None and not is_label(metadata.namespace):
        yield Problem("metadata.namespace", not_a_label(metadata.namespace))


def is_subdomain(name: str) -> bool:
    return len(name) <= 253 and DNS1123_SUBDOMAIN.fullmatch(name) is not None


def is_label(name: str) -> bool:
    return len(name) <= 63 and DNS1123_LABEL.fullmatch(name) is not None


def not_a_label(name: str) -> str:
    return (
        f"{_shown(name)} is not a lowercase RFC 1123 label (at most 63 characters: lower case "
        "letters, digits and '-', starting and ending with a letter or digit)"
    )


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")
