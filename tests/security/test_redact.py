"""One redaction helper: URLs reported by scheme and host, secret values removed in every
spelling a request carries them in."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iter8.security.redact import MASK, origin, redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B1/s3cr3t", "https://hooks.slack.com"),
        ("http://user:pa55@127.0.0.1:8080/hook?token=t0k#frag", "http://127.0.0.1:8080"),
        ("https://[fe80::1]:8443/x?y=z", "https://[fe80::1]:8443"),
        ("HTTPS://Example.COM/a", "https://example.com"),
        ("not a url", "(a URL without scheme or host)"),
        ("http://[::1/x", "(a URL that cannot be read)"),
    ],
)
def test_origin_keeps_scheme_and_host_only(url: str, shown: str) -> None:
    assert origin(url) == shown


def test_every_encoded_form_of_a_secret_is_removed() -> None:
    secret = {"username": "alice", "password": "pa ss/wörd+1"}
    password = secret["password"]
    forms = [
        password,
        quote(password, safe=""),
        quote_plus(password),
        json.dumps(password)[1:-1],
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(b"alice:" + password.encode()).decode(),  # what Basic auth sends
        base64.b64encode(b"alice:" + password.encode()).decode().rstrip("="),
    ]
    for form in forms:
        message = f"denied ({form}) for you"
        assert redact(message, secret) == f"denied ({MASK}) for you", form


@given(st.text(min_size=1, max_size=30), st.text(max_size=30), st.text(max_size=30))
def test_no_secret_value_survives(value: str, before: str, after: str) -> None:
    redacted = redact(before + value + after, {"token": value}) or ""
    # a secret of the mask's own character ("*") is in every mask, and one ending in it
    # ("a*") across a mask's edge: look past the masks, at what is left of the text
    sentinel = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in value)
    assert value not in redacted.replace(MASK, sentinel)


@pytest.mark.parametrize("value", ["*", "**", "a*", "p*ss"])
def test_a_secret_of_the_masks_character_is_masked_too(value: str) -> None:
    assert redact(f"denied ({value}) for you", {"token": value}) == f"denied ({MASK}) for you"
