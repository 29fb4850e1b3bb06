"""The analysis algorithms by name: each module of `iter8.analytics.algorithms` that exposes
`ALGORITHM` is one; nothing else lists them.

`get_algorithm` imports the one module named after the algorithm (`iter8-v2` →
`iter8_v2.py`), so an experiment pays for its own algorithm's imports only (`bayesian` needs
scipy, `iter8-v2` does not); every module is imported only when that fails, to find an
algorithm whose module is named otherwise, or to list the known names.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache

import iter8.analytics.algorithms as package
from iter8.analytics.algorithm import Algorithm
from iter8.registry import discover

DEFAULT_ALGORITHM = "bayesian"
_MODULE_NAME = re.compile(r"[a-z][a-z0-9_]*")


class UnknownAlgorithm(LookupError):
    """Raised with a message that names what is available, ready to show to a user."""

    def __str__(self) -> str:
        return str(self.args[0])


def algorithms() -> dict[str, Algorithm]:
    """Every algorithm (this imports every module)."""
    return discover(package, "ALGORITHM")


def get_algorithm(name: str) -> Algorithm:
    found = _by_module_name(name)
    if found is not None:
        return found
    known = algorithms()
    if name in known:
        return known[name]
    names = ", ".join(sorted(known)) or "none"
    if name == DEFAULT_ALGORITHM:
        raise UnknownAlgorithm(
            f"the default algorithm {name!r} is not available in this build; "
            f"choose one with --algorithm (known: {names})"
        )
    raise UnknownAlgorithm(f"unknown algorithm {name!r} (known: {names})")


@cache
def _module_names() -> frozenset[str]:
    return frozenset(m.name for m in pkgutil.iter_modules(package.__path__))


def _by_module_name(name: str) -> Algorithm | None:
    """The algorithm of the module named after `name`, if there is one (and nothing else is
    imported: the name, which comes from an annotation, is only matched against the modules)."""
    module_name = name.replace("-", "_")
    if not _MODULE_NAME.fullmatch(module_name):
        return None
    if module_name not in _module_names():
        return None
    module = importlib.import_module(f"{package.__name__}.{module_name}")
    algorithm: Algorithm | None = getattr(module, "ALGORITHM", None)
    return algorithm if algorithm is not None and algorithm.name == name else None
