"""The analysis algorithms by name: each module of `iter8.analytics.algorithms` that exposes
`ALGORITHM` is one; nothing else lists them."""

from __future__ import annotations

import iter8.analytics.algorithms as package
from iter8.analytics.algorithm import Algorithm
from iter8.registry import discover

DEFAULT_ALGORITHM = "bayesian"


class UnknownAlgorithm(LookupError):
    """Raised with a message that names what is available, ready to show to a user."""

    def __str__(self) -> str:
        return str(self.args[0])


def algorithms() -> dict[str, Algorithm]:
    return discover(package, "ALGORITHM")


def get_algorithm(name: str) -> Algorithm:
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
