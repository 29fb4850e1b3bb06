"""CloudEvents in HTTP binary mode, read and written without the SDK's detour.

The SDK's `from_http` and `to_binary` go through its legacy event object: every attribute is set
on it through a setter, then read back out into a `CloudEvent` (or into headers). For the events
the functions exchange (binary mode, specversion 1.0, a JSON object as data) that detour was
~0.25 ms of a worker's CPU per event, read and reply together. `read` and `write` map headers to
attributes directly and give what the SDK gives, in the same order (tests/functions/test_wire.py
compares them on generated events); anything else (structured mode, another specversion, an
attribute the SDK treats apart, data that is not a JSON object) goes through the SDK, and so do
its errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http

# the attributes of a 1.0 event, in the order the SDK lists them (`cloudevents.sdk.event.v1`)
ORDER = ("specversion", "id", "source", "type", "datacontenttype", "dataschema", "subject", "time")
KNOWN = frozenset(ORDER)
APART = frozenset({"data", "extensions"})  # names the SDK's legacy event gives a meaning of its own
REQUIRED = ("ce-id", "ce-source", "ce-type")
STRUCTURED = "application/cloudevents+json"  # read as structured mode, ce- headers or not


def read(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """The event of a request, as `from_http(dict(headers), body)` reads it."""
    lowered = {key.lower(): value for key, value in headers.items()}
    if (
        lowered.get("ce-specversion") != "1.0"
        or any(header not in lowered for header in REQUIRED)
        or lowered.get("content-type", "").startswith(STRUCTURED)
    ):
        return from_http(dict(headers), body)
    attributes: dict[str, str] = {}
    for name in ORDER:
        value = lowered.get("content-type" if name == "datacontenttype" else f"ce-{name}")
        if value is not None:
            attributes[name] = value
    for key, value in lowered.items():
        if key.startswith("ce-") and key[3:] not in KNOWN:
            if key[3:] in APART:
                return from_http(dict(headers), body)
            attributes[key[3:]] = value  # an extension
        elif key == "ce-datacontenttype":  # set twice, content-type too: the SDK's order decides
            return from_http(dict(headers), body)
    try:
        data: Any = json.loads(body)
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError):
        data = body  # not JSON: the bytes, as the SDK keeps them
    except Exception:  # RecursionError, say: the SDK wraps it in an error of its own
        return from_http(dict(headers), body)
    if data == "" or data == b"":
        data = None
    return CloudEvent(attributes, data)


def write(event: CloudEvent) -> tuple[dict[str, Any], bytes]:
    """The headers and body of `event` in binary mode, as `to_binary(event)` writes them."""
    attributes, data = event.get_attributes(), event.get_data()
    if (
        attributes.get("specversion") != "1.0"
        or not isinstance(data, dict)
        or not APART.isdisjoint(attributes)
        or any(value is None for value in attributes.values())
    ):
        return to_binary(event)
    try:
        body = json.dumps(data).encode("utf-8")
    except Exception:  # not JSON: the SDK's own answer (its error, or the data as it is)
        return to_binary(event)
    headers: dict[str, Any] = {}
    if attributes.get("datacontenttype"):
        headers["content-type"] = attributes["datacontenttype"]
    for name in ORDER:
        if name in attributes and name != "datacontenttype":
            headers[f"ce-{name}"] = attributes[name]
    for name, value in attributes.items():
        if name not in KNOWN:
            headers[f"ce-{name}"] = value
    return headers, body
