"""PingSource schedules: Go durations, `@every`, and cron with an optional seconds field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventing.sources.schedule import Every, parse_duration, parse_schedule


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _next(spec: str, after: str, timezone: str | None = None) -> str:
    t = _at(after)
    fire = parse_schedule(spec, timezone).following(t, t)
    return datetime.fromtimestamp(fire, UTC).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1), ("500ms", 0.5), ("1h30m", 5400), ("1.5s", 1.5), ("2m0.25s", 120.25)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "1x", "s", "1s "])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_every_stays_in_step_and_skips_what_is_past() -> None:
    every = Every(2.0)
    assert every.following(10.0, 10.0) == 12.0
    assert every.following(10.0, 12.0) == 14.0  # strictly after now
    assert every.following(10.0, 17.3) == 18.0  # 12, 14, 16 were missed
    assert parse_schedule("@every 1m") == Every(60.0)


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        ("*/15 * * * * *", "2026-03-01T10:00:07", "2026-03-01T10:00:15"),
        ("30 2 * * *", "2026-03-01T10:00:00", "2026-03-02T02:30:00"),  # 5 fields: no seconds
        ("0 0 12 * * MON-FRI", "2026-03-06T12:00:00", "2026-03-09T12:00:00"),  # Fri → Mon
        ("0 0 0 1 * *", "2026-12-15T08:00:00", "2027-01-01T00:00:00"),
        ("0 0 0 13 * FRI", "2026-03-01T00:00:00", "2026-03-06T00:00:00"),  # 13th OR Friday
        ("0 0 0 13 * *", "2026-03-01T00:00:00", "2026-03-13T00:00:00"),
        ("0 0 0 * * 0", "2026-03-01T00:00:00", "2026-03-08T00:00:00"),  # Sunday is 0
        ("0 0 0 29 feb ?", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),
        ("5/20 * * * * *", "2026-03-01T10:00:46", "2026-03-01T10:01:05"),  # n/s: n to max
        ("0 1,31 9-10 * * *", "2026-03-01T09:31:00", "2026-03-01T10:01:00"),
        ("@hourly", "2026-03-01T10:00:00", "2026-03-01T11:00:00"),
        ("@daily", "2026-03-01T10:00:00", "2026-03-02T00:00:00"),
        ("@weekly", "2026-03-01T10:00:00", "2026-03-08T00:00:00"),
        ("@monthly", "2026-03-01T10:00:00", "2026-04-01T00:00:00"),
        ("@yearly", "2026-03-01T10:00:00", "2027-01-01T00:00:00"),
    ],
)
def test_cron_next_fire(spec: str, after: str, expected: str) -> None:
    assert _next(spec, after) == expected


def test_time_zones_by_argument_and_by_prefix() -> None:
    # 09:00 in New York in winter is 14:00 UTC
    assert _next("0 0 9 * * *", "2026-01-05T15:00:00", "America/New_York") == "2026-01-06T14:00:00"
    assert _next("CRON_TZ=America/New_York 0 9 * * *", "2026-01-05T15:00:00") == (
        "2026-01-06T14:00:00"
    )


@pytest.mark.parametrize(
    "spec",
    ["61 * * * * *", "* * * *", "* * * * * * *", "0 0 0 32 * *", "*/0 * * * * *", "0 0 x * *"],
)
def test_bad_cron_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(spec)


def test_a_date_that_never_comes() -> None:
    with pytest.raises(ValueError, match="never fires"):
        parse_schedule("0 0 0 30 2 *").following(0.0, 0.0)
