"""Kubernetes quantities (`10m`, `"0.01"`, `50`, `1Ki`, `2e3`), as Iter8 v2 accepted them for limits
and mock levels. The value is kept as the user wrote it (so manifests round-trip) and parsed on use.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import PlainValidator

_DECIMAL_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_BINARY_SUFFIXES = {
    s: Decimal(1024) ** (i + 1) for i, s in enumerate(["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"])
}
_PATTERN = re.compile(
    r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)


def parse_quantity(value: int | float | str) -> float:
    """The number a quantity stands for; raises ValueError with a readable message if it is none."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a finite quantity")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a quantity")
    match = _PATTERN.match(value.strip())
    if match is None:
        raise ValueError(f'{value!r} is not a quantity (examples: 50, "0.01", 10m, 1Ki)')
    try:
        number = Decimal(match["number"])
    except InvalidOperation as error:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"{value!r} is not a quantity") from error
    suffix = match["suffix"] or ""
    if suffix[:1] in ("e", "E"):
        return float(number * Decimal(10) ** int(suffix[1:]))
    return float(number * (_BINARY_SUFFIXES.get(suffix) or _DECIMAL_SUFFIXES[suffix]))


def _check(value: object) -> int | float | str:
    parse_quantity(value)  # type: ignore[arg-type]  # raises for anything but a quantity
    return value  # type: ignore[return-value]


Quantity = Annotated[int | float | str, PlainValidator(_check)]
"""A quantity field: validated on load (booleans and lists are refused), stored as written."""
