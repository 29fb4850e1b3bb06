"""Extension points as registries of small modules (DESIGN principle 6).

A plug-in package (metrics providers, algorithms, routers, notifiers, tasks) holds one module per
plug-in; each module exposes its plug-in as a module-level constant named by the package (e.g.
`PROVIDER`, `ALGORITHM`). Adding a plug-in is adding one file: nothing else lists it.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any


def discover(package: ModuleType, attribute: str) -> dict[str, Any]:
    """`{plugin.name: plugin}` for every module of `package` that defines `attribute`."""
    found: dict[str, Any] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        plugin = getattr(module, attribute, None)
        if plugin is None:
            continue
        if plugin.name in found:
            raise RuntimeError(f"two {attribute}s are named {plugin.name!r}")
        found[plugin.name] = plugin
    return found
