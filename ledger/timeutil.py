"""Time on the ledger: every instant is timezone-aware; naive input means Moscow time.

CONTRACT.md "Times": an instant with an offset means what it says, one without is
Europe/Moscow; a date means that day in Moscow; a period is a calendar month `YYYY-MM`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

MOSCOW = ZoneInfo("Europe/Moscow")

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


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
    """An ISO 8601 instant; without an offset it is Moscow time. A bare date is 00:00 that day."""
    text = text.strip()
    if len(text) == 10:
        return start_of_day(date.fromisoformat(text))
    return in_moscow(datetime.fromisoformat(text))


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def parse_period(text: str) -> tuple[int, int]:
    """A period `YYYY-MM` as (year, month); ValueError names the expected form."""
    match = _PERIOD.match(text.strip())
    if not match:
        raise ValueError(f"period {text!r} is not of the form YYYY-MM")
    return int(match.group(1)), int(match.group(2))


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
