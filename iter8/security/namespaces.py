"""Which namespaces an object may reach: its own, and what the operator allows on top.

A namespace is a security boundary: an Experiment (or a Metric) reads Secrets and routes objects
of its own namespace only. An operator widens that with environment variables, each a
comma-separated list of `owner-namespace:target-namespace` pairs, where either side may be `*`
(any namespace), or a lone `*` (everything):

- `ITER8_ALLOWED_SECRET_NAMESPACES`: Secrets a Metric's `secret` (or a task's secret reference)
  may name outside the owner's namespace, e.g. `team-a:shared-secrets,*:prometheus-creds`;
- `ITER8_ALLOWED_REFERENCE_NAMESPACES`: other objects (weightObjRef, versionInfo, task objects).

Validation refuses what the policy refuses, naming the field; the runtime checks again before
reading. An entry that is not a pair (nor `*`) allows nothing: unknown never widens access.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

SECRET_NAMESPACES_ENV = "ITER8_ALLOWED_SECRET_NAMESPACES"
REFERENCE_NAMESPACES_ENV = "ITER8_ALLOWED_REFERENCE_NAMESPACES"
ANY = "*"

Pair = tuple[str, str]


def parse_allow_list(text: str) -> frozenset[Pair]:
    """`a:b,*:c,*` → {(a, b), (*, c), (*, *)}; malformed entries are dropped."""
    pairs: set[Pair] = set()
    for entry in (part.strip() for part in text.split(",")):
        if entry == ANY:
            pairs.add((ANY, ANY))
            continue
        owner, colon, target = (side.strip() for side in entry.partition(":"))
        if colon and owner and target and ":" not in target:
            pairs.add((owner, target))
    return frozenset(pairs)


def allowed(pairs: frozenset[Pair], owner_ns: str, target_ns: str) -> bool:
    """True for the owner's own namespace, or a pair (with `*` on either side) that names both."""
    if owner_ns == target_ns:
        return True
    return any(owner in (ANY, owner_ns) and target in (ANY, target_ns) for owner, target in pairs)


def secret_namespace_allowed(
    owner_ns: str, secret_ns: str, environ: Mapping[str, str] | None = None
) -> bool:
    """May an object in `owner_ns` read a Secret in `secret_ns`?"""
    env = os.environ if environ is None else environ
    return allowed(parse_allow_list(env.get(SECRET_NAMESPACES_ENV, "")), owner_ns, secret_ns)


def reference_namespace_allowed(
    owner_ns: str, target_ns: str, environ: Mapping[str, str] | None = None
) -> bool:
    """May an Experiment in `owner_ns` name (read, route, patch) an object in `target_ns`?"""
    env = os.environ if environ is None else environ
    return allowed(parse_allow_list(env.get(REFERENCE_NAMESPACES_ENV, "")), owner_ns, target_ns)
