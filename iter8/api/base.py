"""What every API model shares: camelCase on the wire, unknown fields kept, dumps that round-trip."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Base of the wire models.

    `extra="allow"` keeps fields a newer manifest has and we don't know, so writing an object
    back never damages it; `to_wire` dumps only what was set, so load → dump gives back the input.
    """

    model_config = ConfigDict(
        extra="allow",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_assignment=False,
    )

    @model_validator(mode="after")
    def _unknown_keys_are_not_fields(self) -> Self:
        """An unknown key spelled like a field's Python name (`max_loops`) is kept as unknown;
        pydantic would otherwise also mark the field as set and dump it as null."""
        for key in self.model_extra or {}:
            if key in type(self).model_fields:
                self.__pydantic_fields_set__.discard(key)
        return self

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        return cls.model_validate(data, by_alias=True, by_name=False)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class NamedValue(ApiModel):
    """`{name, value}` pairs: version variables, query params, header templates."""

    name: str
    value: str


class ObjectMeta(ApiModel):
    name: str | None = None
    creation_timestamp: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
