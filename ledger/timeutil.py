"""Time on the ledger: every instant is timezone-aware; naive input means Moscow time.

CONTRACT.md "Times": an instant with an offset means what it says, one without is
Europe/Moscow; a date means that day in Moscow; a period is a calendar month `YYYY-MM`.

What the ledger accepts from a user (a command's field, a query's argument) is bounded to
what it can compute with and what a user can mean: years FIRST_YEAR to LAST_YEAR on the
Moscow clock (the production calendar, the periods and every `date + 1 day` stay in range),
ASCII digits, and UTC offsets that clocks use (whole quarter hours from -12:00 to +14:00).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

MOSCOW = ZoneInfo("Europe/Moscow")

FIRST_YEAR, LAST_YEAR = 2000, 2100
# YYYY-MM-DD, or that with THH:MM[:SS[.ffffff]] and an optional Z or ±HH:MM (ISO 8601's
# extended form, as RFC 3339 writes it; the offset may be left out: Moscow time).
INSTANT_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
                   r"(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$")
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
PERIOD_PATTERN = r"^([0-9]{4})-(0[1-9]|1[0-2])$"
# The patterns are also the command schema's (JSON Schema's `$` ends the text): matched whole.
_INSTANT = re.compile(INSTANT_PATTERN)
_DATE = re.compile(DATE_PATTERN)
_PERIOD = re.compile(PERIOD_PATTERN)
_QUARTER_HOUR = timedelta(minutes=15)
_OFFSETS = (timedelta(hours=-12), timedelta(hours=14))


def in_moscow(instant: datetime) -> datetime:
    """The same instant, seen on a Moscow clock; a naive value is taken as Moscow time."""
    if instant.tzinfo is MOSCOW:  # already (astimezone would return it unchanged)
        return instant
    if instant.tzinfo is None:
        return instant.replace(tzinfo=MOSCOW)
    return instant.astimezone(MOSCOW)


def start_of_day(day: date) -> datetime:
    """00:00 Moscow time on `day`."""
    return datetime.combine(day, time.min, tzinfo=MOSCOW)


def moscow_date(instant: datetime) -> date:
    """The Moscow calendar day an instant falls on."""
    return in_moscow(instant).date()


def parse_instant(text: str) -> datetime:
    """An instant as INSTANT_PATTERN writes it; without an offset it is Moscow time, and a
    bare date is 00:00 that day. ValueError says what is wrong."""
    if not _INSTANT.fullmatch(text):
        raise ValueError(f"{text!r} is not an ISO 8601 instant (YYYY-MM-DDTHH:MM[:SS][+03:00])")
    if len(text) == 10:
        return start_of_day(parse_date(text))
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 instant (no such day or time)") from None
    offset = instant.utcoffset()
    if offset is not None and (offset % _QUARTER_HOUR or not _OFFSETS[0] <= offset <= _OFFSETS[1]):
        raise ValueError(f"{text!r} has a UTC offset no clock uses (whole quarter hours, -12:00 to +14:00)")
    _check_year(instant.year, text)  # before converting: year 9999 may not reach Moscow
    return check_instant(in_moscow(instant), text)


def parse_date(text: str) -> date:
    """A date YYYY-MM-DD within the ledger's years."""
    if not _DATE.fullmatch(text):
        raise ValueError(f"{text!r} is not a date YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date YYYY-MM-DD (no such day)") from None
    return check_date(day, text)


def check_instant(instant: datetime, shown: object = None) -> datetime:
    """`instant` if its Moscow day lies within the ledger's years, else ValueError."""
    try:
        year = in_moscow(instant).year
    except OverflowError:
        year = instant.year
    _check_year(year, shown if shown is not None else instant.isoformat())
    return instant


def check_date(day: date, shown: object = None) -> date:
    _check_year(day.year, shown if shown is not None else day.isoformat())
    return day


def _check_year(year: int, shown: object) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"{shown!r} is outside the years the ledger keeps ({FIRST_YEAR}–{LAST_YEAR})")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def parse_period(text: str) -> tuple[int, int]:
    """A period `YYYY-MM` within the ledger's years, as (year, month); ValueError names the
    expected form."""
    match = _PERIOD.fullmatch(text)
    if not match:
        raise ValueError(f"period {text!r} is not of the form YYYY-MM")
    year = int(match.group(1))
    _check_year(year, text)
    return year, int(match.group(2))


def period_of(day: date) -> str:
    """The period `YYYY-MM` a calendar day belongs to."""
    return f"{day.year:04d}-{day.month:02d}"


def period_bounds(period: str) -> tuple[date, date]:
    """First day of the period and first day of the next one (half-open)."""
    year, month = parse_period(period)
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return first, following


def days_between(first: date, following: date) -> list[date]:
    """Every day in [first, following)."""
    return [first + timedelta(days=n) for n in range((following - first).days)]
