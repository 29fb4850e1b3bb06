"""Kubernetes quantities (`10m`, `"0.01"`, `50`, `1Ki`, `2e3`), as Iter8 v2 accepted them for limits
and mock levels. The value is kept as the user wrote it (so manifests round-trip) and parsed on use.

Bounded: at most `MAX_TEXT` characters, an exponent of at most four digits, and a finite value
(what a float holds), so `'1e999999999'` is refused at once instead of raised to its power.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, DecimalException
from functools import lru_cache
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
MAX_TEXT = 100
_PATTERN = re.compile(
    r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d{1,4})?$"
)


def parse_quantity(value: int | float | str) -> float:
    """The number a quantity stands for; raises ValueError with a readable message if it is none."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return _finite(value, value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a quantity")
    if len(value) > MAX_TEXT:
        raise ValueError(f"a quantity of more than {MAX_TEXT} characters")
    match = _PATTERN.match(value.strip())
    if match is None:
        raise ValueError(
            f'{value!r} is not a quantity (examples: 50, "0.01", 10m, 1Ki; exponents of at most '
            "4 digits)"
        )
    suffix = match["suffix"] or ""
    try:
        number = Decimal(match["number"])
        if suffix[:1] in ("e", "E"):
            return _finite(number * Decimal(10) ** int(suffix[1:]), value)
        return _finite(number * (_BINARY_SUFFIXES.get(suffix) or _DECIMAL_SUFFIXES[suffix]), value)
    except DecimalException as error:  # pragma: no cover - the bounds above keep to the context
        raise ValueError(f"{value!r} is out of range") from error


@lru_cache(maxsize=4096, typed=True)
def quantity_value(value: int | float | str) -> float:
    """`parse_quantity` of a validated field, remembered: an analysis reads the same limits and
    mock levels every iteration."""
    return parse_quantity(value)


def _finite(number: int | float | Decimal, shown: object) -> float:
    try:
        result = float(number)
    except OverflowError:  # an int beyond what a float holds
        result = math.inf
    if not math.isfinite(result):
        text = repr(shown)
        raise ValueError(
            f"{text if len(text) <= 40 else text[:37] + '...'} is not a finite quantity"
        )
    return result


def _check(value: object) -> int | float | str:
    parse_quantity(value)  # type: ignore[arg-type]  # raises for anything but a quantity
    return value  # type: ignore[return-value]


Quantity = Annotated[int | float | str, PlainValidator(_check)]
"""A quantity field: validated on load (booleans and lists are refused), stored as written."""
