"""The routers found in `iter8/routing/routers/`, and the choice of one for an object."""

from __future__ import annotations

import functools
import importlib

from iter8.registry import discover
from iter8.routing.router import Router


@functools.cache
def all_routers() -> dict[str, Router]:
    return discover(importlib.import_module("iter8.routing.routers"), "ROUTER")


def router_for(api_version: str, kind: str) -> Router:
    """The matching router with the highest priority (the generic one matches everything)."""
    matching = [r for r in all_routers().values() if r.matches(api_version, kind)]
    if not matching:  # pragma: no cover - the generic router matches everything
        raise LookupError(f"no router for {kind}.{api_version}")
    return max(matching, key=lambda r: (r.priority, r.name))
