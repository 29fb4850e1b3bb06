"""What may be reported of a URL or a backend's message: never a credential, in any spelling.

Status, events, logs and `iter8 describe` show what a failed fetch or notification said, and
that text is written by someone else (a backend echoing the request, an exception quoting the
URL). Webhook URLs carry their secret in the path or the query, so a URL is reported as its
scheme and host only (`origin`). A secret value is removed from a message as written and in the
encodings a request carries it in (`redact`): base64 (a Secret's own encoding, and what a Basic
`Authorization` header holds for `username:password`), URL-encoding, and JSON string escaping.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus, urlsplit

MASK = "***"


def origin(url: str) -> str:
    """`scheme://host[:port]` of a URL: no user, password, path, query or fragment."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(a URL that cannot be read)"
    if not parts.scheme or not host:
        return "(a URL without scheme or host)"
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}" + (f":{port}" if port else "")


def _base64(text: str) -> set[str]:
    raw = text.encode()
    forms = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return forms | {form.rstrip("=") for form in forms}


def encoded_forms(value: str) -> set[str]:
    """`value` as written and as base64, URL-encoding and a JSON string would carry it."""
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    return forms | _base64(value)


def _basic(secret: Mapping[str, str]) -> Iterable[str]:
    """What `Authorization: Basic …` holds for the secret's username and password."""
    username, password = secret.get("username"), secret.get("password")
    if username is not None and password is not None:
        yield from _base64(f"{username}:{password}")


def redact(message: str | None, secret: Mapping[str, str] | None) -> str | None:
    """The message with every secret value, in any of its encoded forms, replaced by `***`
    (longest first, so a value inside another is not left half-shown)."""
    if not message or not secret:
        return message
    forms = {form for value in secret.values() if value for form in encoded_forms(value)}
    forms.update(_basic(secret))
    for form in sorted(forms, key=len, reverse=True):
        if form:
            message = message.replace(form, MASK)
    return message
