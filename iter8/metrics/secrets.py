"""Where a Metric's `secret` comes from: a store's Secrets, or a plain mapping (tests, local runs).

A `SecretSource` maps `(namespace, name)` to the decoded data and raises when it cannot. Values
are decoded but never logged or quoted in a message (the registry redacts them with
`iter8.security.redact`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping

from iter8.store.base import Object, Store
from iter8.store.resources import SECRETS

SecretSource = Callable[[str, str], Mapping[str, str]]


def decode(secret: Object) -> dict[str, str]:
    """A Secret's `data` (base64, decoded as text) with any `stringData` on top."""
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


def from_store(store: Store) -> SecretSource:
    return lambda namespace, name: decode(store.get(SECRETS, namespace, name))


def from_mapping(secrets: Mapping[str, Mapping[str, str]]) -> SecretSource:
    """Secrets given as `{"namespace/name": {key: value}}`, already decoded."""

    def lookup(namespace: str, name: str) -> Mapping[str, str]:
        try:
            return secrets[f"{namespace}/{name}"]
        except KeyError:
            raise LookupError(f'secrets "{name}" not found in namespace {namespace}') from None

    return lookup
