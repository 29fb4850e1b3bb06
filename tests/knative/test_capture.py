"""The capture subscriber's record file is read while the server appends to it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.knative.capture import record_lines


def test_a_line_still_being_written_is_left_for_the_next_read(tmp_path: Path) -> None:
    out = tmp_path / "requests.jsonl"
    first, second = {"t": 1.0, "headers": {"ce-id": "a"}}, {"t": 2.0, "headers": {"ce-id": "b"}}
    half = json.dumps(second)[:20]
    out.write_text(json.dumps(first) + "\n" + half)
    assert record_lines(out) == [first]
    out.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    assert record_lines(out) == [first, second]


def test_no_file_is_no_records(tmp_path: Path) -> None:
    assert record_lines(tmp_path / "absent.jsonl") == []
