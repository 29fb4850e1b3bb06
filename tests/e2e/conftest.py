"""One embedded stack shared by the tests that need nothing special from it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import Harness, running


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with running(tmp_path_factory.mktemp("shared-stack")) as harness:
        yield harness
