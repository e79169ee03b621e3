"""Cron schedules: five-field expressions, and the next matching minute in local time. Pure.

`parse(text)` reads standard (Vixie) cron: `minute hour day-of-month month day-of-week`,
each field `*`, a number, a range `1-5`, a step `*/15`, `10-50/5` or `5/10` (5 to the end
in steps of 10), or a comma list of those; month names jan-dec and weekday names sun-sat
(any case); day-of-week 0 and 7 are both Sunday. When both day-of-month and day-of-week
are restricted (neither starts with `*`), a day matching either one matches (Vixie's rule);
otherwise both must (so `*/2` days and `mon` means the odd-numbered Mondays).
Macros: @hourly @daily @midnight @weekly @monthly @yearly @annually. A schedule that can
never match (`0 0 30 2 *`) is an error here, so `next_run` always finds a time in practice.

`next_run(schedule, after, localtime)`: the epoch second of the first matching minute
strictly after `after`, in local time. Wall time arrives from outside: `localtime(t)` is
time.localtime in the daemon (TZ, else /etc/localtime, else UTC) and a zoneinfo-based
function in tests; only its `tm_gmtoff` is used (mktime is not needed, and libcs disagree
about what it does inside a daylight-saving gap). Daylight saving:

- a local time skipped by the spring-forward gap runs once, at the first valid instant
  after the gap (02:30 on the day New York skips 02:00-03:00 runs at 03:00 EDT; several
  skipped times collapse into that one run);
- a local time repeated by the fall-back overlap runs once, at its first occurrence.
"""
from __future__ import annotations

from zei.core.records import record

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12),
          ("day-of-week", 0, 7))
MONTHS = {n: i + 1 for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
WEEKDAYS = {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())}
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}
LONGEST = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)    # a month's most days (leap Feb)
MONTH_NAMES = (None, "January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")
SEARCH_DAYS = 366 * 12      # Feb 29 can be 8 years away (2096 -> 2104); a bound, not a guess
LOOKBACK = 3 * 3600         # start the search this long before `after` (DST shifts are <= 2h)

Schedule = record("Schedule", "text minutes hours days months weekdays any_day any_weekday",
                  doc="A parsed cron expression: the sets of values each field allows; any_day / "
                      "any_weekday: the field starts with '*' (for the day-of-month/day-of-week rule).")


class CronError(ValueError):
    """A schedule that cannot be read: the message names the field and what is wrong."""


def parse(text):
    """A cron expression or macro -> Schedule; raises CronError."""
    if not isinstance(text, str) or not text.strip():
        raise CronError("expected five fields (minute hour day-of-month month day-of-week) or a "
                        "macro like @daily")
    src = text.strip()
    if src.startswith("@"):
        if src.lower() not in MACROS:
            raise CronError(f"unknown macro {src!r}; expected one of " + ", ".join(MACROS))
        src = MACROS[src.lower()]
    parts = src.split()
    if len(parts) != 5:
        raise CronError(f"expected five fields (minute hour day-of-month month day-of-week), got {len(parts)}")
    sets = [_field(p, *f) for p, f in zip(parts, FIELDS)]
    weekdays = frozenset(d % 7 for d in sets[4])          # 7 is Sunday too
    sched = Schedule(text.strip(), sets[0], sets[1], sets[2], sets[3], weekdays,
                     parts[2].startswith("*"), parts[4].startswith("*"))
    if (sched.any_day or sched.any_weekday) and not any(d <= LONGEST[m] for m in sched.months for d in sched.days):
        months = ", ".join(MONTH_NAMES[m] for m in sorted(sched.months))
        raise CronError(f"day-of-month: {parts[2]} never falls in {months}; the schedule would never run")
    return sched


def _field(text, name, low, high):
    names = MONTHS if name == "month" else WEEKDAYS if name == "day-of-week" else {}
    out = set()
    for item in text.split(","):
        what = f"{name}: {item!r}" if item else f"{name}: an empty list item"
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{what}: the step must be a whole number of at least 1")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        else:
            first, dash, last = base.partition("-")
            start = _value(first, name, low, high, names, what)
            end = _value(last, name, low, high, names, what) if dash else (high if slash else start)
            if end < start:
                raise CronError(f"{what}: the range goes backwards")
        out.update(range(start, end + 1, step))
    return frozenset(out)


def _value(text, name, low, high, names, what):
    if text.isascii() and text.isdigit():
        n = int(text)
        if not low <= n <= high:
            raise CronError(f"{what}: {n} is out of range ({low}-{high})")
        return n
    if text.lower() in names:
        return names[text.lower()]
    kinds = " or a name like jan" if name == "month" else " or a name like mon" if names else ""
    raise CronError(f"{what}: expected a number{kinds}, '*', a range a-b or a step */n")


# ---- the calendar (proleptic Gregorian, days since 1970-01-01) ------------------------------
def days_from_civil(y, m, d):
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def day_matches(sched, day):
    y, m, d = civil_from_days(day)
    if m not in sched.months:
        return False
    dom, dow = d in sched.days, (day + 4) % 7 in sched.weekdays    # 1970-01-01 was a Thursday
    if sched.any_day or sched.any_weekday:       # (a plain '*' allows every day anyway)
        return dom and dow
    return dom or dow


def next_run(sched, after, localtime):
    """The epoch second of the next run strictly after `after` (see the module's DST rules),
    or None if none within SEARCH_DAYS (parse() refuses schedules that never match)."""
    def offset(t):
        return localtime(t).tm_gmtoff

    start = int(after) - LOOKBACK
    local = start + offset(start)                   # naive local seconds
    day, rest = divmod(local, 86400)
    hours, minutes = sorted(sched.hours), sorted(sched.minutes)
    for i in range(SEARCH_DAYS):
        if day_matches(sched, day + i):
            for h in hours:
                if i == 0 and h < rest // 3600:
                    continue
                for mi in minutes:
                    if i == 0 and h * 3600 + mi * 60 < rest:
                        continue
                    t = instant((day + i) * 86400 + h * 3600 + mi * 60, offset)
                    if t > after:
                        return t
    return None


def instant(naive, offset):
    """The epoch second a naive local time `naive` means: its first occurrence if the
    fall-back overlap repeats it, the end of the gap if spring-forward skips it."""
    before, later = offset(naive - 86400), offset(naive + 86400)
    valid = [naive - o for o in sorted({before, later}, reverse=True) if offset(naive - o) == o]
    if valid:
        return valid[0]                                      # the larger offset: the earlier instant
    lo, hi = naive - max(before, later), naive - min(before, later)   # local(lo) < naive < local(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid + offset(mid) >= naive:
            hi = mid
        else:
            lo = mid
    return hi


def iso_local(t, localtime):
    """2026-12-01T14:15:00+01:00: epoch second `t` as local time with its UTC offset."""
    off = localtime(t).tm_gmtoff
    y, m, d = civil_from_days((int(t) + off) // 86400)
    s = (int(t) + off) % 86400
    sign, a = ("+" if off >= 0 else "-"), abs(off)
    return (f"{y:04d}-{m:02d}-{d:02d}T{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
            f"{sign}{a // 3600:02d}:{a % 3600 // 60:02d}")


def hhmm(t, localtime):
    """12:15: the local time of day of epoch second `t`."""
    return iso_local(t, localtime)[11:16]


class Utc:
    """localtime for UTC (a supervisor given no clock): only tm_gmtoff is read."""
    tm_gmtoff = 0

    def __call__(self, t):
        return self
