"""Kubernetes' rules for names and namespaces (RFC 1123), as the API server checks them: one
home for the manifests' validation and for the experiment an event names."""

from __future__ import annotations

import re

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def is_subdomain(name: str) -> bool:
    return len(name) <= 253 and DNS1123_SUBDOMAIN.fullmatch(name) is not None


def is_label(name: str) -> bool:
    return len(name) <= 63 and DNS1123_LABEL.fullmatch(name) is not None


def not_a_subdomain(name: str) -> str:
    return (
        f"{shown(name)} is not a lowercase RFC 1123 subdomain (at most 253 characters: lower "
        "case letters, digits, '-' and '.', starting and ending with a letter or digit)"
    )


def not_a_label(name: str) -> str:
    return (
        f"{shown(name)} is not a lowercase RFC 1123 label (at most 63 characters: lower case "
        "letters, digits and '-', starting and ending with a letter or digit)"
    )


def shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")
