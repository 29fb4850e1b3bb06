from __future__ import annotations

import pytest

from iter8.api.quantity import parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (50, 50.0),
        ("0.01", 0.01),
        ("10m", 0.01),
        ("1500m", 1.5),
        ("2k", 2000.0),
        ("1Ki", 1024.0),
        ("1e3", 1000.0),
        ("5E-1", 0.5),
        ("+.5", 0.5),
        ("-3", -3.0),
        (2.5, 2.5),
        ("100u", 1e-4),
    ],
)
def test_kubernetes_quantities(text: int | float | str, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("bad", ["", "1%", "ten", "1.2.3", "1 k", True, None, [1], float("nan")])
def test_what_is_not_a_quantity(bad: object) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(bad)  # type: ignore[arg-type]
