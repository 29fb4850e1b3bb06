"""PingSource schedules: the robfig/cron syntax Knative accepts, with an optional seconds field.

`@every <duration>` (Go duration syntax: `1m30s`, `500ms`) ticks at start + k·duration; unlike
robfig, which rounds up to whole seconds, shorter periods are kept (tests tick fast). Cron has
5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first; each field takes
`*`, `?`, `n`, `a-b`, `a-b/s`, `*/s`, `n/s` (n to the maximum), comma lists and month or day
names. Day-of-month and day-of-week combine as in cron: if either is `*` or `?` both must match,
otherwise either may. `@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly` are shorthands.
Times are wall-clock times in `timezone` (default UTC; a `CRON_TZ=`/`TZ=` prefix also works).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo


class Schedule(Protocol):
    def following(self, previous: float, now: float) -> float:
        """The first fire time strictly after `now` (epoch seconds), in step with `previous`
        (the last fire time, or the start): ticks missed before `now` are skipped."""
        ...


@dataclass(frozen=True)
class Every:
    period: float

    def following(self, previous: float, now: float) -> float:
        steps = max(0, math.floor((now - previous) / self.period)) + 1
        return previous + steps * self.period


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration such as `1h30m`, `2.5s` or `500ms`."""
    parts = _DURATION_PART.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"invalid duration {text!r}")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (  # second … weekday: min, max, names
    (0, 59, {}),
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    (0, 6, {name: i for i, name in enumerate(_DAYS)}),
)
_SHORTHANDS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}


def _field(text: str, low: int, high: int, names: dict[str, int]) -> tuple[frozenset[int], bool]:
    """The values a field allows, and whether it is the `*`/`?` wildcard."""
    values: set[int] = set()
    for part in text.lower().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span in ("*", "?"):
            start, end = low, high
        else:
            first, dash, last = span.partition("-")
            start = names[first] if first in names else int(first)
            end = (names[last] if last in names else int(last)) if dash else start
            if step_text and not dash:
                end = high  # `n/s`: from n to the maximum
        if step < 1 or not low <= start <= end <= high:
            raise ValueError(f"{part!r} is out of range {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values), text in ("*", "?")


@dataclass(frozen=True)
class Cron:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool  # day-of-month or day-of-week is `*`: both must match, not either
    zone: tzinfo = UTC

    def _day_matches(self, t: datetime) -> bool:
        in_month, in_week = t.day in self.days, (t.weekday() + 1) % 7 in self.weekdays
        return in_month and in_week if self.any_day else in_month or in_week

    def following(self, previous: float, now: float) -> float:
        t = datetime.fromtimestamp(math.floor(now), self.zone).replace(tzinfo=None)
        t += timedelta(seconds=1)
        limit = t.year + 9  # enough for any satisfiable spec, even Feb 29 across 2100
        while t.year <= limit:
            if t.month not in self.months:
                t = datetime(t.year + t.month // 12, t.month % 12 + 1, 1)
            elif not self._day_matches(t):
                t = datetime(t.year, t.month, t.day) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
            elif t.second not in self.seconds:
                t += timedelta(seconds=1)
            else:
                fire = t.replace(tzinfo=self.zone).timestamp()
                if fire > now:  # a wall time that a DST change repeats may lie in the past
                    return fire
                t += timedelta(seconds=1)
        raise ValueError("the schedule never fires")


def parse_schedule(text: str, timezone: str | None = None) -> Schedule:
    spec = text.strip()
    prefix = re.match(r"(?:CRON_)?TZ=(\S+)\s+", spec)
    if prefix:
        timezone, spec = prefix.group(1), spec[prefix.end() :]
    if spec.startswith("@every "):
        period = parse_duration(spec.removeprefix("@every ").strip())
        if period <= 0:
            raise ValueError(f"{text!r}: the period must be positive")
        return Every(period)
    fields = _SHORTHANDS.get(spec, spec).split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ValueError(f"{text!r}: expected 5 or 6 fields, @every <duration> or a shorthand")
    try:
        parsed = [_field(f, *limits) for f, limits in zip(fields, _FIELDS, strict=True)]
    except (KeyError, ValueError) as error:
        raise ValueError(f"{text!r}: {error}") from None
    (seconds, _), (minutes, _), (hours, _), (days, any_mday), (months, _), (wdays, any_wday) = (
        parsed
    )
    zone = ZoneInfo(timezone) if timezone else UTC
    return Cron(seconds, minutes, hours, days, months, wdays, any_mday or any_wday, zone)
