"""An embedded store per test, and a store wrapper that records patches or injects a rival write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from iter8.store.base import Object, PatchType, Store
from iter8.store.resources import Resource
from iter8.store.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.db")
    yield opened
    opened.close()


class Recording:
    """Delegates to a real store; counts patches and may run `before_patch` ahead of each one
    (the rival writer of a conflict test)."""

    def __init__(self, inner: Store, before_patch: Callable[[int], None] | None = None) -> None:
        self.inner = inner
        self.before_patch = before_patch
        self.patches: list[tuple[str, str, Any, str | None]] = []

    @property
    def store(self) -> Store:
        return cast(Store, self)

    def get(self, resource: Resource, namespace: str, name: str) -> Object:
        return self.inner.get(resource, namespace, name)

    def patch(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        patch: Object | list[Object],
        patch_type: PatchType = PatchType.MERGE,
        *,
        resource_version: str | None = None,
        subresource: str = "",
    ) -> Object:
        if self.before_patch is not None:
            self.before_patch(len(self.patches))
        self.patches.append((namespace, name, patch, resource_version))
        return self.inner.patch(
            resource, namespace, name, patch, patch_type, resource_version=resource_version
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
