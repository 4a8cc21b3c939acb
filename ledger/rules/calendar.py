"""The support calendar (R-HRS-1, R-HRS-2, R-HRS-3, I-1): when support is open, and how much
support time lies between two instants.

Pure: no clock, no I/O, no database. The `holidays` package supplies the decreed days off and
working Saturdays; calendar overrides from the ledger (`OverrideCalendarDay` events) take
precedence over it (I-1). Support time is measured exactly (timedelta arithmetic, seconds and
microseconds included) and the total is floored to whole minutes once, at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, get_args

from ledger.timeutil import MOSCOW, in_moscow, moscow_date

if TYPE_CHECKING:
    import holidays

OverrideKind = Literal["holiday", "working", "shortened"]

OPENS = time(10)
CLOSES = time(18)
CLOSES_BEFORE_HOLIDAY = time(17)

# Labour Code art. 112: the non-working public holidays, as (month, day).
STATUTORY_HOLIDAYS = frozenset(
    {(1, day) for day in range(1, 9)} | {(2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4)}
)

# The reasons a SupportDay gives; closed package days carry the package's own holiday name.
WORKING_DAY = "рабочий день"
PRE_HOLIDAY = "предпраздничный день"
WEEKEND = "выходной"
OVERRIDE = "override: "

_MINUTE = timedelta(minutes=1)
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class CalendarOverride:
    """One day of the calendar as a ledger event fixes it (I-1); it wins over the package.

    `holiday` closes the day, `working` opens it 10:00–18:00 (17:00 when R-HRS-3 makes it
    pre-holiday), `shortened` opens it 10:00–17:00.
    """

    date: date
    kind: OverrideKind
    reason: str

    def __post_init__(self) -> None:
        kinds = get_args(OverrideKind)
        if self.kind not in kinds:
            raise ValueError(f"calendar override kind {self.kind!r} is not one of {kinds}")


@dataclass(frozen=True)
class SupportDay:
    """Support hours of one Moscow calendar day (R-HRS-1..3, I-1): `open`/`close` are None on a
    closed day; `reason` says why the day is what it is, in the production calendar's words."""

    date: date
    open: time | None
    close: time | None
    reason: str

    def __post_init__(self) -> None:
        if (self.open is None) != (self.close is None):
            raise ValueError("a support day has both opening and closing times, or neither")

    @property
    def is_open(self) -> bool:
        return self.open is not None

    @property
    def minutes(self) -> int:
        """Support minutes in the whole day."""
        hours = self.hours()
        return 0 if hours is None else (_elapsed(*hours) // _MINUTE)

    def hours(self) -> tuple[datetime, datetime] | None:
        """The open interval [open, close) as aware Moscow instants; None on a closed day."""
        if self.open is None or self.close is None:
            return None
        return (
            datetime.combine(self.date, self.open, tzinfo=MOSCOW),
            datetime.combine(self.date, self.close, tzinfo=MOSCOW),
        )


def is_statutory_holiday(day: date) -> bool:
    """Whether `day` is a non-working public holiday of Labour Code art. 112 (R-HRS-3, I-1).

    Only these make the day before pre-holiday; a day off moved by decree does not.
    """
    return (day.month, day.day) in STATUTORY_HOLIDAYS


def precedes_statutory_holiday(day: date) -> bool:
    """R-HRS-3 as read by I-1: a working day is pre-holiday (closes at 17:00) when the next
    calendar day is a statutory holiday."""
    return is_statutory_holiday(day + _ONE_DAY)


class SupportCalendar:
    """The support calendar of R-HRS-1..3 under I-1, with the ledger's overrides applied.

    Immutable once built. When the overrides name a date twice, the later one wins (events
    arrive in order). The package's holidays are loaded lazily, one object per year, and every
    day is computed once and cached.
    """

    def __init__(self, overrides: Iterable[CalendarOverride] = ()) -> None:
        by_date: dict[date, CalendarOverride] = {}
        for override in overrides:
            by_date[override.date] = override
        self._overrides = MappingProxyType(by_date)
        self._holidays_by_year: dict[int, holidays.HolidayBase] = {}
        self._days: dict[date, SupportDay] = {}
        self._hours: dict[date, tuple[datetime, datetime] | None] = {}

    @property
    def overrides(self) -> tuple[CalendarOverride, ...]:
        """The overrides in force, by date."""
        return tuple(self._overrides[day] for day in sorted(self._overrides))

    # --- days ---------------------------------------------------------------------------

    def day(self, day: date) -> SupportDay:
        """Support hours of `day` (R-HRS-1, R-HRS-2, R-HRS-3, I-1)."""
        if isinstance(day, datetime):
            raise TypeError("SupportCalendar.day takes a date; use moscow_date() for an instant")
        support_day = self._days.get(day)
        if support_day is None:
            support_day = self._days[day] = self._support_day(day)
        return support_day

    def days(self, first: date, last: date) -> list[SupportDay]:
        """Support hours of every day from `first` to `last`, both included (I-1)."""
        return [self.day(day) for day in _dates(first, last)]

    def _support_day(self, day: date) -> SupportDay:
        """I-1: an override wins; else the package says whether the day works (R-HRS-1,
        R-HRS-2), and R-HRS-3 says whether it closes early."""
        override = self._overrides.get(day)
        if override is not None:
            return self._overridden_day(override)
        package = self._package(day.year)
        if not package.is_working_day(day):
            return SupportDay(day, None, None, package.get(day, WEEKEND))
        if _is_weekend(day):
            return self._decreed_working_weekend(day)
        if precedes_statutory_holiday(day):
            return SupportDay(day, OPENS, CLOSES_BEFORE_HOLIDAY, PRE_HOLIDAY)
        return SupportDay(day, OPENS, CLOSES, WORKING_DAY)

    def _overridden_day(self, override: CalendarOverride) -> SupportDay:
        """I-1: `holiday` closes, `shortened` is 10:00–17:00, `working` is 10:00–18:00 unless
        R-HRS-3 makes it pre-holiday."""
        reason = OVERRIDE + override.reason
        if override.kind == "holiday":
            return SupportDay(override.date, None, None, reason)
        if override.kind == "shortened" or self._is_pre_holiday(override.date):
            return SupportDay(override.date, OPENS, CLOSES_BEFORE_HOLIDAY, reason)
        return SupportDay(override.date, OPENS, CLOSES, reason)

    def _decreed_working_weekend(self, day: date) -> SupportDay:
        """I-1: a decreed working Saturday is open 10:00–18:00 and takes over the regime of the
        weekday that received its day off (R-HRS-3)."""
        weekday_off = self._weekday_given_day_off(day)
        name = "рабочая суббота" if day.weekday() == 5 else "рабочее воскресенье"
        if weekday_off is not None:
            name = f"{name} (выходной перенесён на {weekday_off:%d.%m.%Y})"
        if self._is_pre_holiday(day):
            return SupportDay(day, OPENS, CLOSES_BEFORE_HOLIDAY, f"{name}, {PRE_HOLIDAY}")
        return SupportDay(day, OPENS, CLOSES, name)

    def _is_pre_holiday(self, day: date) -> bool:
        """R-HRS-3, I-1: pre-holiday by the next calendar day, except that a decreed working
        weekend day is judged by the weekday whose day off it gave."""
        regime_day = self._weekday_given_day_off(day) if _is_weekend(day) else None
        return precedes_statutory_holiday(regime_day or day)

    def _weekday_given_day_off(self, weekend_day: date) -> date | None:
        """The day off a decree moved from `weekend_day` (I-1), or None.

        The package names that day off "Выходной (перенесено с DD.MM.YYYY)" after the weekend
        day it came from, and marks the weekend day in `weekend_workdays`.
        """
        package = self._package(weekend_day.year)
        if weekend_day not in package.weekend_workdays:
            return None
        label = package.tr(package.substituted_label) % weekend_day.strftime(
            package.tr(package.substituted_date_format)
        )
        for day_off in sorted(package):
            if label in package.get_list(day_off):
                return day_off
        return None

    def _package(self, year: int) -> holidays.HolidayBase:
        package = self._holidays_by_year.get(year)
        if package is None:
            # Imported here, when a question first needs the package's days: importing it
            # costs a query that never asks the calendar a fifth of its start-up (issue 17).
            import holidays

            package = holidays.country_holidays("RU", language="ru", years=year, expand=False)
            self._holidays_by_year[year] = package
        return package

    # --- support time -------------------------------------------------------------------

    def is_open_at(self, instant: datetime) -> bool:
        """Whether support is open at `instant` (R-HRS-1..3, I-1); hours are half-open."""
        local = in_moscow(instant)
        hours = self._open_hours(local.date())
        return hours is not None and hours[0] <= local < hours[1]

    def support_minutes_between(self, start: datetime, end: datetime) -> int:
        """Whole minutes of support time in [start, end) (R-HRS-1..3, I-1); 0 if end <= start.

        Measured exactly and floored to whole minutes once, so for minute-aligned instants it
        is additive over any split point. Walks day by day, never minute by minute.
        """
        start, end = in_moscow(start), in_moscow(end)
        if end <= start:
            return 0
        total = timedelta(0)
        for day in _dates(start.date(), end.date()):
            hours = self._open_hours(day)
            if hours is None:
                continue
            low, high = max(start, hours[0]), min(end, hours[1])
            if low < high:
                total += _elapsed(low, high)
        return total // _MINUTE

    def add_support_minutes(self, start: datetime, minutes: int) -> datetime:
        """The earliest instant with `minutes` of support time after `start` (R-HRS-1..3, I-1),
        in Moscow time. With 0 minutes it is `start` itself, even outside support hours; time
        used up exactly at closing is the closing instant, not the next opening."""
        if minutes < 0:
            raise ValueError(f"support minutes must not be negative, got {minutes}")
        start = in_moscow(start)
        remaining = timedelta(minutes=minutes)
        if not remaining:
            return start
        day = moscow_date(start)
        while True:
            hours = self._open_hours(day)
            if hours is not None and start < hours[1]:
                low = max(start, hours[0])
                available = _elapsed(low, hours[1])
                if remaining <= available:
                    return (low.astimezone(timezone.utc) + remaining).astimezone(MOSCOW)
                remaining -= available
            day += _ONE_DAY

    def _open_hours(self, day: date) -> tuple[datetime, datetime] | None:
        if day not in self._hours:
            self._hours[day] = self.day(day).hours()
        return self._hours[day]


def _is_weekend(day: date) -> bool:
    return day.weekday() >= 5


def _dates(first: date, last: date) -> Iterator[date]:
    """Every day from `first` to `last`, both included."""
    day = first
    while day <= last:
        yield day
        day += _ONE_DAY


def _elapsed(low: datetime, high: datetime) -> timedelta:
    """Real elapsed time: aware datetimes sharing a tzinfo subtract as wall clocks, so go
    through UTC."""
    return high.astimezone(timezone.utc) - low.astimezone(timezone.utc)
