"""The clock and the in-process runtime (the four handlers on a SQLite store) that the function
tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.runtime import Runtime
from tests.functions.harness import Clock, make_runtime


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(tmp_path: Path, clock: Clock) -> Runtime:
    return make_runtime(tmp_path / "store.db", clock)
