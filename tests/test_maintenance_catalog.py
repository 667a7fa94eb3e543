"""Maintenance windows in the catalog: validation one line each, and their openings in absolute time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from zarish_obs import maintenance
from zarish_obs.catalog import WEEKDAYS, Catalog, default_catalog_text, parse_catalog
from zarish_obs.stack.main import main

DHAKA = ZoneInfo("Asia/Dhaka")
BASE = yaml.safe_load(default_catalog_text())


def with_windows(windows: list[dict], timezone: str = "Asia/Dhaka") -> Catalog:
    return parse_catalog(yaml.safe_dump({**BASE, "timezone": timezone, "maintenance": windows}), "<test>")


def test_every_bad_window_is_one_named_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = [
        {"name": "nightly", "reason": "backups", "services": ["billing", "ghost"], "schedule": "0 2 * * *",
         "duration": "30m"},
        {"name": "migrate", "reason": "DB migration", "start": "2026-12-05T01:00", "end": "2026-12-05T00:30"},
        {"name": "cron", "reason": "x", "schedule": "61 2 * * *", "duration": "1h"},
        {"name": "long", "reason": "x", "schedule": "0 2 * * *", "duration": "24h"},
        {"name": "both", "reason": "x", "schedule": "0 2 * * *", "duration": "1h", "weekdays": ["monday"],
         "from": "01:00", "to": "02:00"},
        {"name": "half", "reason": "x", "start": "2026-12-05T01:00"},
        {"name": "sdr", "reason": "x", "services": ["billing"], "start": "2026-12-05T01:00",
         "end": "2026-12-05T02:00", "suppress_dr": True},
        {"name": "days", "reason": "x", "weekdays": ["funday"], "from": "25:00", "to": "03:00",
         "environments": ["prod"]},
        {"name": "nightly", "reason": "dup", "start": "2026-02-30T01:00", "end": "2026-12-05T02:00"},
    ]
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({**BASE, "maintenance": bad}, sort_keys=False))
    capsys.readouterr()
    rc = main(["catalog", "validate", "--catalog", str(path)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 65 and "Traceback" not in "\n".join(lines)
    expected = [
        "maintenance.nightly.services[1]: 'ghost' is not a declared service",
        "maintenance.migrate: end 2026-12-05T00:30 is not after start 2026-12-05T01:00",
        "maintenance.cron.schedule: '61 2 * * *' is not a valid cron schedule",
        "maintenance.long: duration 24h: a recurring window lasts under 24h",
        "maintenance.both: give exactly one of",
        "maintenance.half: start/end: all of these are needed together",
        "maintenance.sdr: suppress_dr: only a window over every service",
        "maintenance.days.weekdays[0]:",
        "maintenance.days.from: '25:00' is not a local time",
        "maintenance.days.environments[0]: 'prod' is not a declared environment",
        "duplicate maintenance window name 'nightly'",
        "2026-02-30T01:00' is not a date that exists",
    ]
    for want in expected:
        assert sum(want in line for line in lines) == 1, (want, lines)
    assert all(line.startswith(f"{path}:") for line in lines)


def test_overlapping_windows_are_merged_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cat = with_windows([
        {"name": "fri-patch", "reason": "OS patching", "weekdays": ["friday"], "from": "23:00", "to": "01:00"},
        {"name": "nightly", "reason": "backups", "services": ["billing"], "schedule": "30 0 * * *",
         "duration": "1h"},
        {"name": "lab-only", "reason": "x", "services": ["laboratory"], "schedule": "30 0 * * *", "duration": "1h"},
    ])
    since = datetime(2026, 12, 1, tzinfo=DHAKA).timestamp()
    notes = maintenance.overlaps(cat, since, since + 14 * 86400)
    assert len(notes) == 2 and all("fri-patch" in n and "merged" in n for n in notes)
    # Friday 23:00 to Saturday 01:00 and the nightly 00:30-01:30 become one stretch, 23:00 to 01:30.
    spans = maintenance.covering(cat, "billing", "production", since, since + 7 * 86400)
    friday = datetime(2026, 12, 4, 23, 0, tzinfo=DHAKA).timestamp()
    assert (friday, friday + 2.5 * 3600) in spans
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**BASE, "maintenance": [w.model_dump(by_alias=True, exclude_none=True)
                                                            for w in cat.maintenance]}))
    capsys.readouterr()
    assert main(["catalog", "validate", "--catalog", str(path), "--format", "json"]) == 0
    out = capsys.readouterr()
    assert len(json.loads(out.out)["notes"]) == 2 and out.err.count("note: maintenance: windows") == 2


@settings(max_examples=40, deadline=None)
@given(days=st.sets(st.sampled_from(WEEKDAYS), min_size=1), start=st.integers(0, 1439), size=st.integers(1, 1439),
       offset=st.integers(0, 60 * 86400), zone=st.sampled_from(["Asia/Dhaka", "UTC", "Asia/Kolkata"]))
def test_weekly_windows_open_on_their_local_weekdays(days: set[str], start: int, size: int, offset: int,
                                                     zone: str) -> None:
    end = (start + size) % 1440
    cat = with_windows([{"name": "w", "reason": "r", "weekdays": sorted(days), "from": f"{start // 60:02d}:"
                         f"{start % 60:02d}", "to": f"{end // 60:02d}:{end % 60:02d}"}], zone)
    tz = ZoneInfo(zone)
    since = datetime(2026, 1, 1, tzinfo=tz).timestamp() + offset
    until = since + 15 * 86400
    found = maintenance.occurrences(cat, cat.maintenance[0], since, until)
    assert found, "a weekly window opens at least twice in 15 days"
    for o in found:
        assert since <= o.start < o.end <= until
        if o.start > since:  # not cut by the range: it starts at the local time on a named weekday
            local = datetime.fromtimestamp(o.start, tz)
            assert WEEKDAYS[local.weekday()] in days and local.hour * 60 + local.minute == start
        if o.start > since and o.end < until:
            assert o.end - o.start == size * 60
    expected_opens = sum(1 for d in range(-1, 17)
                         if WEEKDAYS[(datetime.fromtimestamp(since, tz).date() + timedelta(days=d)).weekday()] in days
                         and since - size * 60 < (datetime.combine(datetime.fromtimestamp(since, tz).date()
                                                                    + timedelta(days=d), datetime.min.time(), tz)
                                                   + timedelta(minutes=start)).timestamp() < until)
    assert len(found) == expected_opens


@settings(max_examples=30, deadline=None)
@given(minute=st.integers(0, 59), hour=st.integers(0, 23), dow=st.sampled_from(["*", "1-5", "0,6", "3"]),
       minutes=st.integers(1, 600))
def test_cron_windows_open_when_croniter_says(minute: int, hour: int, dow: str, minutes: int) -> None:
    schedule = f"{minute} {hour} * * {dow}"
    cat = with_windows([{"name": "c", "reason": "r", "schedule": schedule, "duration": f"{minutes}m"}])
    since = datetime(2026, 3, 1, tzinfo=DHAKA).timestamp()
    found = maintenance.occurrences(cat, cat.maintenance[0], since, since + 10 * 86400)
    runs = croniter(schedule, datetime.fromtimestamp(since, DHAKA))
    expected = []
    while (at := runs.get_next(float)) < since + 10 * 86400:
        expected.append((at, min(at + minutes * 60, since + 10 * 86400)))
    assert [(o.start, o.end) for o in found if o.start > since] == expected


def test_one_off_window_in_local_time_and_who_it_covers() -> None:
    cat = with_windows([{"name": "migrate", "reason": "DB migration", "services": ["billing"],
                         "start": "2026-12-05T01:00", "end": "2026-12-05T03:30"}])
    w = cat.maintenance[0]
    a = datetime(2026, 12, 5, 1, 0, tzinfo=DHAKA).timestamp()
    assert [(o.start, o.end) for o in maintenance.occurrences(cat, w, 0, 2e9)] == [(a, a + 2.5 * 3600)]
    assert maintenance.covers(cat, w, "billing", "production")
    assert not maintenance.covers(cat, w, "billing", "staging")  # default: the DR environment only
    assert not maintenance.covers(cat, w, "laboratory", "production")
    assert [o.end for o in maintenance.active(cat, "billing", "production", a + 60)] == [a + 2.5 * 3600]
    assert maintenance.active(cat, "billing", "production", a + 2.5 * 3600) == []
