"""Fixtures for the metrics tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.metrics.backend import Backend


@pytest.fixture
def http_backend() -> Iterator[Backend]:
    backend = Backend().start()
    yield backend
    backend.stop()
