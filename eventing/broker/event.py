"""A CloudEvent as the broker carries it, and the rules an event must follow to be accepted.

Every attribute is kept in its string form, the form it has in a binary-mode `ce-` header. That is
the form a Knative broker's filter sees (the ingress hands events to the channel in binary mode),
so filters compare strings and a structured event and its binary twin route the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

SPEC_VERSIONS = ("1.0", "0.3")
REQUIRED = ("specversion", "id", "source", "type")
# Attributes that are not extensions (0.3 adds schemaurl and datacontentencoding).
CONTEXT_ATTRIBUTES = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "dataschema",
        "schemaurl",
        "datacontentencoding",
    }
)

# sdk-go 2.16 accepts these extension names (and lower-cases them); `-` or `_` are refused.
_EXTENSION_NAME = re.compile(r"[a-zA-Z0-9]+")
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_MEDIA_TYPE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))*[ \t]*;?[ \t]*"
)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:\d{2})"
)
# Not in a CloudEvents String (spec "Type System"); surrogates are bytes that were not UTF-8.
_NOT_STRING = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# Go's zero time, which is what Knative's filter sees for an event without `time`.
ZERO_TIME = "0001-01-01T00:00:00Z"


class InvalidEvent(ValueError):
    """The request is not a CloudEvent the broker accepts: Knative answers 400."""


@dataclass(frozen=True)
class Event:
    attributes: Mapping[str, str]
    data: bytes | None = None
    # True when `data` came from a structured event's JSON `data` member (so it is JSON text).
    json_data: bool = field(default=False, compare=False)

    def get(self, name: str) -> str | None:
        return self.attributes.get(name)

    @property
    def type(self) -> str:
        return self.attributes["type"]

    @property
    def id(self) -> str:
        return self.attributes["id"]

    def replace(self, **changes: str | None) -> Event:
        """A copy with attributes set (a string) or removed (None)."""
        attributes = dict(self.attributes)
        for name, value in changes.items():
            if value is None:
                attributes.pop(name, None)
            else:
                attributes[name] = value
        return Event(attributes, self.data, self.json_data)

    def extensions(self) -> dict[str, str]:
        return {k: v for k, v in self.attributes.items() if k not in CONTEXT_ATTRIBUTES}


def extension_name(raw: str) -> str:
    if not _EXTENSION_NAME.fullmatch(raw):
        raise InvalidEvent(f"invalid extension name {raw!r}: only letters and digits are allowed")
    return raw.lower()


def validate(attributes: Mapping[str, str]) -> dict[str, str]:
    """The attributes, checked as sdk-go's `Event.Validate` does, with `time` made canonical.

    Beyond sdk-go, every value must be a CloudEvents String: no control characters (U+0000-U+001F,
    U+007F-U+009F) and no surrogates (bytes that were not UTF-8). sdk-go lets them in, and then
    Go's HTTP client refuses to write them, so every delivery fails and even the dead letter does.
    """
    checked = dict(attributes)
    if _NOT_STRING.search("".join(checked.values())):  # one search: this runs for every event
        name = next(name for name, value in checked.items() if _NOT_STRING.search(value))
        raise InvalidEvent(f"{name} holds a control character or bytes that are not UTF-8")
    version = checked.get("specversion")
    if version not in SPEC_VERSIONS:
        raise InvalidEvent(
            f"specversion must be one of {', '.join(SPEC_VERSIONS)}, not {version!r}"
        )
    for name in ("id", "type"):
        if not checked.get(name, "").strip():
            raise InvalidEvent(f"{name} is required and must not be empty")
    _check_uri_reference(checked.get("source", ""))
    if "subject" in checked and not checked["subject"].strip():
        raise InvalidEvent("subject, when present, must not be empty")
    if "datacontenttype" in checked:
        content_type = checked["datacontenttype"].strip()
        if not content_type or not _MEDIA_TYPE.fullmatch(content_type):
            raise InvalidEvent(f"datacontenttype {content_type!r} is not a media type")
    for name in ("dataschema", "schemaurl"):
        if name in checked and not _SCHEME.match(checked[name]):
            raise InvalidEvent(f"{name} must be an absolute URI")
    if "time" in checked:
        checked["time"] = canonical_time(checked["time"])
    return checked


def _check_uri_reference(source: str) -> None:
    if not source:
        raise InvalidEvent("source is required and must not be empty")
    if _BAD_ESCAPE.search(source):
        raise InvalidEvent("source contains an invalid percent escape")
    if source.startswith(":"):
        raise InvalidEvent("source is missing a scheme before ':'")


def canonical_time(text: str) -> str:
    """RFC 3339 time as sdk-go writes it on the wire: UTC, nanoseconds, trailing zeros trimmed."""
    match = _RFC3339.fullmatch(text)
    if not match:
        raise InvalidEvent(f"time {text!r} is not an RFC 3339 timestamp")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        when = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        if offset != "Z":
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError("offset out of range")
            delta = timedelta(hours=hours, minutes=minutes)
            when = when.replace(tzinfo=timezone(delta if offset[0] == "+" else -delta))
            when = when.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError) as error:
        raise InvalidEvent(f"time {text!r} is out of range: {error}") from error
    nanos = (fraction or "")[:9].ljust(9, "0").rstrip("0")
    return when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{nanos}" if nanos else "") + "Z"


def format_timestamp(when: datetime) -> str:
    """A timestamp the way sdk-go formats `knativearrivaltime`."""
    utc = when.astimezone(UTC) if when.tzinfo else when
    micros = f"{utc.microsecond:06d}".rstrip("0")
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{micros}" if micros else "") + "Z"


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` → `application/json` (Knative's `datamediatype`)."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def is_json_media_type(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind in ("application/json", "text/json") or kind.endswith("+json")
