"""The CloudEvents HTTP binding: requests and responses to `Event`s and back.

Detection follows sdk-go (what Knative's ingress and filter use): a `Content-Type` of
`application/cloudevents+json` means structured mode, a batch content type is refused, otherwise a
`ce-specversion` header means binary mode, and anything else is not a CloudEvent.

Header values are carried verbatim, without the spec's percent-encoding: the 1.x Python SDK that
every producer and handler of this project uses neither encodes nor decodes them, and values are
kept to plain ASCII by the events contract (DESIGN.md), where the two conventions agree. Other
values travel as their UTF-8 bytes, as Go writes a string's bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

from eventing.broker.event import (
    CONTEXT_ATTRIBUTES,
    Event,
    InvalidEvent,
    extension_name,
    is_json_media_type,
    media_type,
    validate,
)

STRUCTURED = "application/cloudevents+json"
BATCH_PREFIX = "application/cloudevents-batch"
_INT32 = (-(2**31), 2**31 - 1)

Headers = Mapping[str, str]  # lower-case names


def header_map(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-case names; the first of repeated headers wins, as Go's `Header.Get` does."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        headers.setdefault(name.lower(), value)
    return headers


def is_cloudevent(headers: Headers) -> bool:
    """Whether sdk-go would read this message as an event (structured, batch or binary)."""
    kind = media_type(headers.get("content-type"))
    return kind == STRUCTURED or kind.startswith(BATCH_PREFIX) or "ce-specversion" in headers


def is_binary(headers: Headers) -> bool:
    """Whether sdk-go would read this message as a binary-mode event."""
    kind = media_type(headers.get("content-type"))
    return kind != STRUCTURED and not kind.startswith(BATCH_PREFIX) and "ce-specversion" in headers


def decode(headers: Headers, body: bytes) -> Event:
    """The validated event in an HTTP message; raises InvalidEvent."""
    kind = media_type(headers.get("content-type"))
    if kind.startswith(BATCH_PREFIX):
        raise InvalidEvent("batched events are not accepted")
    if kind == STRUCTURED:
        return _structured(body)
    if "ce-specversion" in headers:
        return _binary(headers, body)
    raise InvalidEvent("not a CloudEvent: no ce-specversion header and not " + STRUCTURED)


def _binary(headers: Headers, body: bytes) -> Event:
    attributes: dict[str, str] = {}
    for name, value in headers.items():
        if name.startswith("ce-"):
            attributes[extension_name(name[3:])] = value
    content_type = headers.get("content-type")
    if content_type:
        attributes["datacontenttype"] = content_type
    else:
        attributes.pop("datacontenttype", None)
    return Event(validate(attributes), body or None)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _structured(body: bytes) -> Event:
    try:
        envelope = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise InvalidEvent(f"structured event is not valid JSON: {error}") from error
    if not isinstance(envelope, dict):
        raise InvalidEvent("structured event must be a JSON object")
    attributes: dict[str, str] = {}
    for key, value in envelope.items():
        if key in ("data", "data_base64") or value is None:
            continue
        name = key if key in CONTEXT_ATTRIBUTES else extension_name(key)
        if name in attributes:
            raise InvalidEvent(f"attribute {name!r} appears twice")
        attributes[name] = _attribute_text(name, value)
    data, json_data = _structured_data(envelope, attributes.get("datacontenttype"))
    return Event(validate(attributes), data, json_data)


def _attribute_text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if name in CONTEXT_ATTRIBUTES:
        raise InvalidEvent(f"{name} must be a string")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and float(value).is_integer():
        number = int(value)
        if _INT32[0] <= number <= _INT32[1]:
            return str(number)
    raise InvalidEvent(f"extension {name!r} must be a string, a boolean or a 32-bit integer")


def _structured_data(
    envelope: dict[str, Any], content_type: str | None
) -> tuple[bytes | None, bool]:
    data, encoded = envelope.get("data"), envelope.get("data_base64")
    if data is not None and encoded is not None:
        raise InvalidEvent("an event has either data or data_base64, not both")
    if encoded is not None:
        if not isinstance(encoded, str):
            raise InvalidEvent("data_base64 must be a string")
        try:
            return base64.b64decode(encoded, validate=True), False
        except (binascii.Error, ValueError) as error:
            raise InvalidEvent(f"data_base64 is not base64: {error}") from error
    if data is None:
        return None, False
    if isinstance(data, str) and content_type and not is_json_media_type(content_type):
        return data.encode(), False
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode(), True


def to_binary(event: Event) -> tuple[list[tuple[str, str]], bytes]:
    headers = [
        (f"ce-{name}", value)
        for name, value in event.attributes.items()
        if name != "datacontenttype"  # it travels as Content-Type
    ]
    content_type = event.attributes.get("datacontenttype")
    if content_type:
        headers.append(("content-type", content_type))
    return headers, event.data or b""


def to_structured(event: Event) -> tuple[list[tuple[str, str]], bytes]:
    envelope: dict[str, Any] = dict(event.attributes)
    if event.data is not None:
        envelope.update(_data_member(event))
    body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
    return [("content-type", f"{STRUCTURED}; charset=utf-8")], body


def _data_member(event: Event) -> dict[str, Any]:
    """JSON data is embedded, text of a declared text type is a string, the rest is base64."""
    data, content_type = event.data or b"", event.get("datacontenttype")
    if event.json_data or not content_type or is_json_media_type(content_type):
        try:
            return {"data": json.loads(data)}
        except (ValueError, RecursionError):
            pass
    if content_type:
        try:
            return {"data": data.decode()}
        except UnicodeDecodeError:
            pass
    return {"data_base64": base64.b64encode(data).decode()}
