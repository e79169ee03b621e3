"""Cron arithmetic (zei.core.cron): parsing, and the next run in local time -- month ends, leap
days, weekday names, the day-of-month/day-of-week rule, both daylight-saving transitions in
two zones, year rollover. Local time comes from zoneinfo, as the daemon's comes from libc."""
from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from zei.core import cron

try:
    from zoneinfo import ZoneInfo
    ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")
except Exception:                                   # pragma: no cover (no tz database)
    pytest.skip("no time zone database", allow_module_level=True)


def localtime(zone):
    """time.localtime for `zone`, as far as zei.core.cron uses it (tm_gmtoff)."""
    z = ZoneInfo(zone) if zone != "UTC" else timezone.utc
    return lambda t: SimpleNamespace(tm_gmtoff=int(datetime.fromtimestamp(t, z).utcoffset().total_seconds()))


def at(text, zone, fold=0):
    """The epoch second of local time `text` (fold=1: the second of a repeated time)."""
    z = ZoneInfo(zone) if zone != "UTC" else timezone.utc
    return datetime.fromisoformat(text).replace(tzinfo=z, fold=fold).timestamp()


def runs(expr, after, zone="UTC", n=1, fold=0):
    """The next n runs (ISO local time with offset) after local time `after`."""
    lt, sched, t, out = localtime(zone), cron.parse(expr), at(after, zone, fold), []
    for _ in range(n):
        t = cron.next_run(sched, t, lt)
        out.append(cron.iso_local(t, lt))
    return out


UTC_CASES = [
    # expression, after (local), the next runs
    ("*/15 * * * *", "2026-12-01T14:07:30", ["2026-12-01T14:15:00+00:00", "2026-12-01T14:30:00+00:00"]),
    ("*/15 * * * *", "2026-12-01T14:15:00", ["2026-12-01T14:30:00+00:00"]),       # strictly after
    ("* * * * *", "2026-12-01T14:15:59", ["2026-12-01T14:16:00+00:00", "2026-12-01T14:17:00+00:00"]),
    ("10-50/20 * * * *", "2026-12-01T14:00", ["2026-12-01T14:10:00+00:00", "2026-12-01T14:30:00+00:00",
                                             "2026-12-01T14:50:00+00:00", "2026-12-01T15:10:00+00:00"]),
    ("5/20 3 * * *", "2026-12-01T00:00", ["2026-12-01T03:05:00+00:00", "2026-12-01T03:25:00+00:00",
                                         "2026-12-01T03:45:00+00:00", "2026-12-02T03:05:00+00:00"]),
    ("1,5 0 * * *", "2026-12-01T00:02", ["2026-12-01T00:05:00+00:00", "2026-12-02T00:01:00+00:00"]),
    # month ends: the 31st only in long months
    ("0 0 31 * *", "2026-01-31T12:00", ["2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00",
                                       "2026-07-31T00:00:00+00:00", "2026-08-31T00:00:00+00:00"]),
    ("0 12 30 * *", "2026-01-30T12:00", ["2026-03-30T12:00:00+00:00"]),           # no Feb 30
    # Feb 29: leap years only (2100 is not one)
    ("0 0 29 2 *", "2026-01-01T00:00", ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]),
    ("0 0 29 feb *", "2096-03-01T00:00", ["2104-02-29T00:00:00+00:00"]),
    # year rollover
    ("0 0 1 1 *", "2026-12-31T23:59", ["2027-01-01T00:00:00+00:00", "2028-01-01T00:00:00+00:00"]),
    ("@yearly", "2026-06-01T00:00", ["2027-01-01T00:00:00+00:00"]),
    ("59 23 31 dec *", "2026-12-31T23:59", ["2027-12-31T23:59:00+00:00"]),
    # weekday names, 7 = Sunday; 2026-12-01 is a Tuesday
    ("0 9 * * mon-fri", "2026-12-04T10:00", ["2026-12-07T09:00:00+00:00", "2026-12-08T09:00:00+00:00"]),
    ("0 9 * * SUN", "2026-12-01T00:00", ["2026-12-06T09:00:00+00:00", "2026-12-13T09:00:00+00:00"]),
    ("0 9 * * 7", "2026-12-01T00:00", ["2026-12-06T09:00:00+00:00"]),
    ("0 9 * * Sat,sun", "2026-12-01T00:00", ["2026-12-05T09:00:00+00:00", "2026-12-06T09:00:00+00:00"]),
    ("0 0 1 Jan,JUL *", "2026-02-01T00:00", ["2026-07-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"]),
    # both day fields restricted: either one (Vixie); the 13th or a Friday
    ("0 0 13 * fri", "2026-11-01T00:00", ["2026-11-06T00:00:00+00:00", "2026-11-13T00:00:00+00:00",
                                         "2026-11-20T00:00:00+00:00", "2026-11-27T00:00:00+00:00",
                                         "2026-12-04T00:00:00+00:00"]),
    # a '*' day field (even stepped) does not count as restricted: both must match
    ("0 0 */2 * mon", "2026-12-01T00:00", ["2026-12-07T00:00:00+00:00", "2026-12-21T00:00:00+00:00"]),
    # macros
    ("@hourly", "2026-12-01T14:15", ["2026-12-01T15:00:00+00:00"]),
    ("@daily", "2026-12-01T14:15", ["2026-12-02T00:00:00+00:00"]),
    ("@midnight", "2026-12-01T00:00", ["2026-12-02T00:00:00+00:00"]),
    ("@weekly", "2026-12-01T14:15", ["2026-12-06T00:00:00+00:00"]),
    ("@monthly", "2026-12-01T14:15", ["2027-01-01T00:00:00+00:00"]),
    ("@annually", "2026-12-01T14:15", ["2027-01-01T00:00:00+00:00"]),
]


@pytest.mark.parametrize("expr, after, expected", UTC_CASES)
def test_next_runs(expr, after, expected):
    assert runs(expr, after, n=len(expected)) == expected


DST_CASES = [
    # New York, 2026-03-08: 02:00 EST becomes 03:00 EDT (02:00-02:59 does not exist)
    ("America/New_York", "30 2 * * *", "2026-03-07T12:00", 0,
     ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]),
    ("America/New_York", "*/15 * * * *", "2026-03-08T01:40", 0,     # the gap's runs collapse into one
     ["2026-03-08T01:45:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:15:00-04:00"]),
    ("America/New_York", "0 * * * *", "2026-03-08T00:30", 0,
     ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]),
    # New York, 2026-11-01: 02:00 EDT becomes 01:00 EST (01:00-01:59 happens twice): once, the first
    ("America/New_York", "30 1 * * *", "2026-10-31T12:00", 0,
     ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]),
    ("America/New_York", "*/30 * * * *", "2026-11-01T00:50", 0,
     ["2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T02:00:00-05:00"]),
    ("America/New_York", "*/30 * * * *", "2026-11-01T01:10", 1,     # after: the second 01:10 (EST)
     ["2026-11-01T02:00:00-05:00"]),
    ("America/New_York", "@daily", "2026-10-31T12:00", 0,           # a 25-hour day
     ["2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00"]),
    # Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST
    ("Europe/Berlin", "30 2 * * *", "2026-03-28T12:00", 0,
     ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]),
    ("Europe/Berlin", "0 3 * * *", "2026-03-28T12:00", 0,
     ["2026-03-29T03:00:00+02:00", "2026-03-30T03:00:00+02:00"]),
    # Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET (02:00-02:59 twice)
    ("Europe/Berlin", "30 2 * * *", "2026-10-24T12:00", 0,
     ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]),
    ("Europe/Berlin", "0 * * * *", "2026-10-25T01:30", 0,
     ["2026-10-25T02:00:00+02:00", "2026-10-25T03:00:00+01:00", "2026-10-25T04:00:00+01:00"]),
    # winter time in the display
    ("Europe/Berlin", "15 14 1 12 *", "2026-11-30T00:00", 0, ["2026-12-01T14:15:00+01:00"]),
]


@pytest.mark.parametrize("zone, expr, after, fold, expected", DST_CASES)
def test_daylight_saving(zone, expr, after, fold, expected):
    assert runs(expr, after, zone, n=len(expected), fold=fold) == expected


def test_the_gap_runs_once_not_once_per_skipped_time():
    lt, sched = localtime("America/New_York"), cron.parse("*/5 2 * * *")
    t = cron.next_run(sched, at("2026-03-08T01:00", "America/New_York"), lt)
    assert cron.iso_local(t, lt) == "2026-03-08T03:00:00-04:00"
    assert cron.iso_local(cron.next_run(sched, t, lt), lt) == "2026-03-09T02:00:00-04:00"


def test_an_epoch_with_seconds_and_fractions():
    lt = localtime("UTC")
    assert cron.next_run(cron.parse("* * * * *"), at("2026-12-01T14:15:00", "UTC") + 0.5, lt) \
        == at("2026-12-01T14:16:00", "UTC")


@pytest.mark.parametrize("text, message", [
    ("", "expected five fields"),
    ("* * * *", "expected five fields (minute hour day-of-month month day-of-week), got 4"),
    ("* * * * * *", "got 6"),
    ("60 * * * *", "minute: '60': 60 is out of range (0-59)"),
    ("* 24 * * *", "hour: '24': 24 is out of range (0-23)"),
    ("* * 0 * *", "day-of-month: '0': 0 is out of range (1-31)"),
    ("* * 32 * *", "day-of-month: '32': 32 is out of range (1-31)"),
    ("* * * 13 *", "month: '13': 13 is out of range (1-12)"),
    ("* * * * 8", "day-of-week: '8': 8 is out of range (0-7)"),
    ("*/0 * * * *", "minute: '*/0': the step must be a whole number of at least 1"),
    ("*/x * * * *", "minute: '*/x': the step must be"),
    ("5-1 * * * *", "minute: '5-1': the range goes backwards"),
    ("1,,2 * * * *", "minute: an empty list item"),
    ("* * * foo *", "month: 'foo': expected a number or a name like jan"),
    ("* * * * monday", "day-of-week: 'monday': expected a number or a name like mon"),
    ("jan * * * *", "minute: 'jan': expected a number, '*'"),
    ("@reboot", "unknown macro '@reboot'"),
    ("0 0 30 2 *", "day-of-month: 30 never falls in February; the schedule would never run"),
    ("0 0 31 4,6,9,11 *", "31 never falls in April, June, September, November"),
])
def test_parse_errors_name_the_field(text, message):
    with pytest.raises(cron.CronError) as e:
        cron.parse(text)
    assert message in str(e.value)


def test_an_impossible_date_is_fine_with_a_weekday():
    # the 30th of February or any Monday in February: Mondays
    assert runs("0 0 30 2 mon", "2026-01-01T00:00") == ["2026-02-02T00:00:00+00:00"]


def test_the_search_is_bounded():
    # parse() refuses what never matches; a hand-made schedule that does not is bounded too
    sched = cron.parse("0 0 1 1 *")._replace(days=frozenset({31}), months=frozenset({2}))
    assert cron.next_run(sched, 0, localtime("UTC")) is None


def test_the_calendar_round_trips():
    for day in range(-800_000, 800_000, 997):
        assert cron.days_from_civil(*cron.civil_from_days(day)) == day
    assert cron.civil_from_days(0) == (1970, 1, 1)
    assert cron.days_from_civil(2000, 3, 1) - cron.days_from_civil(2000, 2, 28) == 2
    assert cron.days_from_civil(2100, 3, 1) - cron.days_from_civil(2100, 2, 28) == 1


def test_iso_local_and_hhmm():
    lt = localtime("Europe/Berlin")
    t = at("2026-12-01T14:15:00", "Europe/Berlin")
    assert cron.iso_local(t, lt) == "2026-12-01T14:15:00+01:00"
    assert cron.hhmm(t, lt) == "14:15"
    ny = localtime("America/New_York")
    assert cron.iso_local(t, ny) == "2026-12-01T08:15:00-05:00"
    assert cron.iso_local(0, cron.Utc()) == "1970-01-01T00:00:00+00:00"
