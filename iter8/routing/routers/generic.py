"""Any integer field reached by `fieldPath`: the fallback for objects no other router knows."""

from __future__ import annotations

from typing import ClassVar

from iter8.routing.router import FieldRouter


class GenericRouter(FieldRouter):
    name: ClassVar[str] = "generic"
    priority: ClassVar[int] = 0


ROUTER = GenericRouter()
