"""The report's period: a calendar month, an explicit range or the last N days, in the catalog's time zone.

Every boundary is a whole minute, and every day boundary a local midnight, so the report's queries can
step by days and minutes on Prometheus's absolute grid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from zarish_obs.durations import parse_duration
from zarish_obs.errors import ExitCode, ZarishError

MINUTE = 60
DAY = 86400
SHORTEST = 60
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Day:
    """One local calendar day of the period, cut to the period at both ends."""

    date: date
    start: float  # unix seconds
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def whole(self) -> bool:
        return self.seconds == DAY


@dataclass(frozen=True)
class Period:
    start: float  # unix seconds, inclusive
    end: float  # unix seconds, exclusive
    tz: tzinfo
    label: str  # 2026-11, or the range as given
    truncated: bool = False  # the asked-for end lay in the future and was cut to now

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def timezone(self) -> str:
        return str(self.tz)

    def local(self, at: float) -> datetime:
        return datetime.fromtimestamp(at, self.tz)

    def days(self) -> list[Day]:
        """The local calendar days the period touches, in order, each cut to the period."""
        out = []
        day = self.local(self.start).date()
        while True:
            start = _midnight(day, self.tz)
            end = _midnight(day + timedelta(days=1), self.tz)
            lo, hi = max(start, self.start), min(end, self.end)
            if lo >= self.end:
                break
            if hi > lo:
                out.append(Day(day, lo, hi))
            day += timedelta(days=1)
        return out

    def quarter_start(self) -> float:
        """Local midnight on the first day of the calendar quarter in which the period ends."""
        last = self.local(self.end - 1).date()
        return _midnight(date(last.year, 3 * ((last.month - 1) // 3) + 1, 1), self.tz)


def _midnight(day: date, tz: tzinfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def _usage(message: str) -> ZarishError:
    return ZarishError(message, ExitCode.USAGE)


def month(text: str, tz: tzinfo) -> tuple[float, float]:
    m = _MONTH.match(text)
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1970:
        raise _usage(f"--month {text!r}: not a month; expected YYYY-MM, e.g. 2026-11")
    year, mon = int(m.group(1)), int(m.group(2))
    first = date(year, mon, 1)
    following = date(year + mon // 12, mon % 12 + 1, 1)
    return _midnight(first, tz), _midnight(following, tz)


def previous_month(now: float, tz: tzinfo) -> str:
    today = datetime.fromtimestamp(now, tz).date()
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def parse_time(text: str, option: str, tz: tzinfo) -> float:
    """RFC 3339, a local date (its midnight in the catalog's zone), or unix seconds."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return float(text)
        if _DATE.match(text):
            return _midnight(date.fromisoformat(text), tz)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _usage(f"{option} {text!r}: not a time; expected RFC 3339 (2026-11-01T00:00:00+06:00), a date "
                     "(2026-11-01, local midnight) or unix seconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.timestamp()


def resolve(tz: tzinfo, now: float, *, month_text: str | None = None, from_text: str | None = None,
            to_text: str | None = None, last: str | None = None) -> Period:
    """The period the options ask for (default: the previous full month); exit 64 on any bad combination."""
    given = [name for name, v in (("--month", month_text), ("--from/--to", from_text or to_text),
                                  ("--last", last)) if v]
    if len(given) > 1:
        raise _usage(f"{' and '.join(given)} cannot be combined: give a month, a range or --last")
    if from_text or to_text:
        if not (from_text and to_text):
            raise _usage("--from and --to go together: give both")
        start, end = parse_time(from_text, "--from", tz), parse_time(to_text, "--to", tz)
        if start >= end:
            raise _usage(f"--from {from_text!r} is not before --to {to_text!r}")
        label = f"{from_text} to {to_text}"
    elif last:
        try:
            length = parse_duration(last)
        except ValueError as exc:
            raise _usage(f"--last: {exc}") from None
        end = float(int(now) // MINUTE * MINUTE)
        start, label = end - length, f"last {last}"
    else:
        label = month_text or previous_month(now, tz)
        start, end = month(label, tz)
    if end - start < SHORTEST:
        raise _usage(f"the period {label} is shorter than a minute")
    start = float(int(start) // MINUTE * MINUTE)
    end = float(-(-int(end) // MINUTE) * MINUTE)
    if start >= now:
        raise _usage(f"the period {label} starts in the future ({datetime.fromtimestamp(start, UTC):%Y-%m-%dT%H:%MZ})")
    truncated = end > now
    if truncated:
        end = float(int(now) // MINUTE * MINUTE)
        if end <= start:
            raise _usage(f"the period {label} has not begun a minute ago")
    return Period(start, end, tz, label, truncated)
