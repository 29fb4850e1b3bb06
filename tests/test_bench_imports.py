"""Every benchmark module imports: a bench that no test runs must not rot unseen (bench.stack_sqlite
imported a builder that had been removed, and failed only when someone ran it)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize(
    "module", sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__")
)
def test_bench_module_imports(module: str) -> None:
    importlib.import_module(f"bench.{module}")
