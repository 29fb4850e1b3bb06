"""URLs a manifest gives for the functions to call: http or https only, with a host.

Anything else (`file://`, `gopher://`, a bare path) is refused here, naming the field, long before
a function would try it. Placeholders (`$key`, `${key}` from a metric's secret) may stand for
the host or the path, never for the scheme, which must be written out.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\{\{.*?\}\}|@<.*?>@", re.DOTALL)


def url_problem(url: str, placeholders: bool = False) -> str | None:
    """Why `url` is not an http(s) URL with a host, or None. With `placeholders`, template
    placeholders count as a host name or a path segment."""
    scheme = _SCHEME.match(url)
    if scheme is None:
        return f"{_shown(url)} is not a URL: write http://host[:port]/path or https://…"
    if scheme[1].lower() not in SCHEMES:
        return f"scheme {scheme[1]!r} is not allowed: http or https only"
    text = _PLACEHOLDER.sub("placeholder", url) if placeholders else url
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as error:
        return f"{_shown(url)} is not a URL: {error}"
    if not parts.hostname:
        return f"{_shown(url)} has no host"
    return None


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")
