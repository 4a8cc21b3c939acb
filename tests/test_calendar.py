"""The support calendar: R-HRS-1 (hours), R-HRS-2 (holidays), R-HRS-3 (pre-holiday days), I-1."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.rules.calendar import (
    CalendarOverride,
    SupportCalendar,
    SupportDay,
    is_statutory_holiday,
)
from ledger.timeutil import MOSCOW
from tests.production_calendar_data import ONE_OFF_NON_WORKING_DAYS, PRODUCTION_CALENDAR

CALENDAR = SupportCalendar()
ONE_OFF_OVERRIDES = [
    CalendarOverride(day, "holiday", "нерабочий день (указ Президента)")
    for days in ONE_OFF_NON_WORKING_DAYS.values()
    for day in sorted(days)
]
CALENDAR_WITH_ONE_OFFS = SupportCalendar(ONE_OFF_OVERRIDES)


def msk(text: str) -> datetime:
    """A Moscow wall-clock instant, "YYYY-MM-DD HH:MM[:SS]"."""
    return datetime.fromisoformat(text).replace(tzinfo=MOSCOW)


def hours(day: SupportDay) -> tuple[time, time] | None:
    return None if day.open is None else (day.open, day.close)


FULL = (time(10), time(18))
SHORT = (time(10), time(17))


# --- R-HRS-1: Monday–Friday 10:00–18:00 Moscow time ------------------------------------------


def test_r_hrs_1_ordinary_weekday_is_open_ten_to_eighteen():
    day = CALENDAR.day(date(2024, 3, 13))
    assert hours(day) == FULL
    assert day.reason == "рабочий день"
    assert day.minutes == 480


def test_r_hrs_1_ordinary_weekend_is_closed():
    for weekend_day in (date(2024, 3, 16), date(2024, 3, 17)):
        day = CALENDAR.day(weekend_day)
        assert hours(day) is None and not day.is_open
        assert day.reason == "выходной"
        assert day.minutes == 0


def test_r_hrs_1_hours_are_half_open_and_in_moscow_time():
    assert not CALENDAR.is_open_at(msk("2024-03-13 09:59:59"))
    assert CALENDAR.is_open_at(msk("2024-03-13 10:00"))
    assert CALENDAR.is_open_at(msk("2024-03-13 17:59:59.999999"))
    assert not CALENDAR.is_open_at(msk("2024-03-13 18:00"))
    # 07:00 UTC is 10:00 in Moscow; 06:59 UTC is not yet open.
    assert CALENDAR.is_open_at(datetime(2024, 3, 13, 7, 0, tzinfo=timezone.utc))
    assert not CALENDAR.is_open_at(datetime(2024, 3, 13, 6, 59, tzinfo=timezone.utc))


def test_r_hrs_1_naive_instants_are_moscow_time():
    assert CALENDAR.is_open_at(datetime(2024, 3, 13, 10, 0))
    assert CALENDAR.support_minutes_between(
        datetime(2024, 3, 13, 9, 0), datetime(2024, 3, 13, 11, 0)
    ) == 60


# --- R-HRS-2: closed on official non-working days --------------------------------------------


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (date(2024, 1, 3), "Новогодние каникулы"),
        (date(2025, 1, 7), "Рождество Христово"),
        (date(2024, 2, 23), "День защитника Отечества"),
        (date(2024, 6, 12), "День России"),
        (date(2025, 11, 4), "День народного единства"),
        (date(2025, 3, 8), "Международный женский день"),  # a Saturday
        (date(2020, 2, 24), "День защитника Отечества (выходной)"),  # Feb 23 was a Sunday
    ],
)
def test_r_hrs_2_public_holidays_are_closed_with_their_name(day, reason):
    support_day = CALENDAR.day(day)
    assert hours(support_day) is None
    assert support_day.reason == reason


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (date(2024, 4, 29), "Выходной (перенесено с 27.04.2024)"),
        (date(2024, 4, 30), "Выходной (перенесено с 02.11.2024)"),
        (date(2024, 12, 31), "Выходной (перенесено с 07.01.2024)"),
        (date(2025, 5, 8), "Выходной (перенесено с 23.02.2025)"),
        (date(2025, 11, 3), "Выходной (перенесено с 01.11.2025)"),
    ],
)
def test_r_hrs_2_i_1_days_off_moved_by_decree_are_closed(day, reason):
    support_day = CALENDAR.day(day)
    assert hours(support_day) is None
    assert support_day.reason == reason


# --- R-HRS-3 / I-1: pre-holiday days close at 17:00 ------------------------------------------

SHORTENED = {
    2024: ["02-22", "03-07", "05-08", "06-11", "11-02"],
    2025: ["03-07", "04-30", "06-11", "11-01"],
    2026: ["04-30", "05-08", "06-11", "11-03"],
}


@pytest.mark.parametrize(
    "day",
    [date.fromisoformat(f"{year}-{day}") for year, days in SHORTENED.items() for day in days],
)
def test_r_hrs_3_i_1_pre_holiday_days_close_at_seventeen(day):
    assert hours(CALENDAR.day(day)) == SHORT
    assert CALENDAR.day(day).minutes == 420


@pytest.mark.parametrize("year", sorted(SHORTENED))
def test_r_hrs_3_i_1_no_other_shortened_days(year):
    shortened = {
        d.date.strftime("%m-%d")
        for d in CALENDAR.days(date(year, 1, 1), date(year, 12, 31))
        if hours(d) == SHORT
    }
    assert shortened == set(SHORTENED[year])


def test_r_hrs_3_statutory_holidays_are_those_of_labour_code_article_112():
    statutory = {
        d for d in (date(2025, 1, 1) + timedelta(n) for n in range(365)) if is_statutory_holiday(d)
    }
    assert sorted(d.strftime("%m-%d") for d in statutory) == [
        "01-01", "01-02", "01-03", "01-04", "01-05", "01-06", "01-07", "01-08",
        "02-23", "03-08", "05-01", "05-09", "06-12", "11-04",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "day",
    [
        date(2025, 5, 7),  # May 8 is a day off moved from Feb 23, not a statutory holiday
        date(2025, 12, 30),  # Dec 31 is a day off moved from Jan 5
        date(2024, 12, 27),  # Dec 28 is a working Saturday
        date(2025, 2, 21),  # Feb 22 is a plain Saturday, Feb 23 a Sunday
        date(2025, 6, 10),  # Jun 11 is pre-holiday, not Jun 10
    ],
)
def test_r_hrs_3_i_1_a_day_off_moved_by_decree_does_not_make_a_pre_holiday(day):
    assert hours(CALENDAR.day(day)) == FULL


def test_r_hrs_3_i_1_pre_holiday_reason():
    assert CALENDAR.day(date(2025, 6, 11)).reason == "предпраздничный день"


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2019, SHORT),  # Tuesday, before Jan 1
        (2020, SHORT),  # Thursday
        (2021, None),  # a day off moved from Jan 3
        (2022, None),  # Saturday
        (2023, None),  # Sunday
        (2024, None),  # a day off moved from Jan 7
        (2025, None),  # a day off moved from Jan 5
        (2026, None),  # a day off moved from Jan 4
        (2027, None),  # a day off moved from Jan 3
    ],
)
def test_r_hrs_3_i_1_december_31_is_pre_holiday_when_it_is_a_working_day(year, expected):
    assert hours(CALENDAR.day(date(year, 12, 31))) == expected


# --- I-1: decreed working Saturdays take over the regime of the weekday they swap with --------


@pytest.mark.parametrize(
    ("day", "expected", "reason"),
    [
        (date(2024, 4, 27), FULL, "рабочая суббота (выходной перенесён на 29.04.2024)"),
        (
            date(2024, 11, 2),
            SHORT,
            "рабочая суббота (выходной перенесён на 30.04.2024), предпраздничный день",
        ),
        (date(2024, 12, 28), FULL, "рабочая суббота (выходной перенесён на 30.12.2024)"),
        (
            date(2025, 11, 1),
            SHORT,
            "рабочая суббота (выходной перенесён на 03.11.2025), предпраздничный день",
        ),
        (
            date(2022, 3, 5),
            SHORT,
            "рабочая суббота (выходной перенесён на 07.03.2022), предпраздничный день",
        ),
        (
            date(2021, 2, 20),
            SHORT,
            "рабочая суббота (выходной перенесён на 22.02.2021), предпраздничный день",
        ),
    ],
)
def test_i_1_working_saturday_takes_over_the_regime_of_its_weekday(day, expected, reason):
    support_day = CALENDAR.day(day)
    assert hours(support_day) == expected
    assert support_day.reason == reason


def test_i_1_the_saturday_itself_is_not_judged_by_its_own_next_day():
    # 2024-11-02 is followed by a plain Sunday, yet it is pre-holiday: it works Apr 30's shift.
    assert not is_statutory_holiday(date(2024, 11, 3))
    assert hours(CALENDAR.day(date(2024, 11, 2))) == SHORT


# --- I-1: overrides from the ledger take precedence over the package -------------------------


def test_i_1_holiday_override_closes_a_working_day():
    calendar = SupportCalendar([CalendarOverride(date(2024, 3, 13), "holiday", "указ")])
    day = calendar.day(date(2024, 3, 13))
    assert hours(day) is None
    assert day.reason == "override: указ"


def test_i_1_working_override_opens_a_day_off_for_the_full_day():
    calendar = SupportCalendar([CalendarOverride(date(2024, 4, 29), "working", "решение")])
    day = calendar.day(date(2024, 4, 29))
    assert hours(day) == FULL
    assert day.reason == "override: решение"


def test_r_hrs_3_i_1_working_override_before_a_statutory_holiday_closes_at_seventeen():
    calendar = SupportCalendar(
        [
            CalendarOverride(date(2024, 12, 31), "working", "отменён перенос"),
            CalendarOverride(date(2024, 4, 30), "working", "отменён перенос"),
        ]
    )
    assert hours(calendar.day(date(2024, 12, 31))) == SHORT
    assert hours(calendar.day(date(2024, 4, 30))) == SHORT


def test_i_1_working_override_on_a_plain_saturday_is_a_full_day():
    calendar = SupportCalendar([CalendarOverride(date(2028, 2, 19), "working", "указ 2028")])
    assert hours(calendar.day(date(2028, 2, 19))) == FULL


def test_i_1_shortened_override_closes_at_seventeen():
    calendar = SupportCalendar([CalendarOverride(date(2024, 3, 13), "shortened", "решение")])
    assert hours(calendar.day(date(2024, 3, 13))) == SHORT


def test_i_1_override_beats_the_package_on_a_decreed_working_saturday():
    calendar = SupportCalendar([CalendarOverride(date(2024, 12, 28), "holiday", "решение")])
    assert hours(calendar.day(date(2024, 12, 28))) is None


def test_i_1_a_holiday_override_does_not_make_the_day_before_pre_holiday():
    calendar = SupportCalendar([CalendarOverride(date(2020, 6, 24), "holiday", "парад")])
    assert hours(calendar.day(date(2020, 6, 23))) == FULL


def test_i_1_the_later_override_of_a_day_wins():
    calendar = SupportCalendar(
        [
            CalendarOverride(date(2024, 3, 13), "holiday", "first"),
            CalendarOverride(date(2024, 3, 13), "shortened", "second"),
        ]
    )
    assert hours(calendar.day(date(2024, 3, 13))) == SHORT
    assert [o.reason for o in calendar.overrides] == ["second"]


def test_i_1_the_calendar_does_not_see_later_changes_to_its_input():
    overrides = [CalendarOverride(date(2024, 3, 13), "holiday", "указ")]
    calendar = SupportCalendar(overrides)
    overrides.append(CalendarOverride(date(2024, 3, 14), "holiday", "указ"))
    assert hours(calendar.day(date(2024, 3, 14))) == FULL


def test_i_1_an_unknown_override_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        CalendarOverride(date(2024, 3, 13), "closed", "x")  # type: ignore[arg-type]


# --- the official production calendar, day by day --------------------------------------------


def _observed(calendar: SupportCalendar, year: int) -> dict[str, set[date]]:
    days = calendar.days(date(year, 1, 1), date(year, 12, 31))
    return {
        "non_working_weekdays": {d.date for d in days if d.date.weekday() < 5 and not d.is_open},
        "working_weekends": {d.date for d in days if d.date.weekday() >= 5 and d.is_open},
        "shortened": {d.date for d in days if hours(d) == SHORT},
        "other_hours": {d.date for d in days if hours(d) not in (FULL, SHORT, None)},
    }


@pytest.mark.parametrize("year", sorted(PRODUCTION_CALENDAR))
def test_r_hrs_1_2_3_i_1_package_matches_the_production_calendar(year):
    """Every day of 2019–2027 from the package alone: the decreed calendar as published,
    before the one-off presidential non-working days of 2020–2021."""
    expected = PRODUCTION_CALENDAR[year]
    observed = _observed(CALENDAR, year)
    assert observed["non_working_weekdays"] == expected.non_working_weekdays
    assert observed["working_weekends"] == expected.working_weekends
    assert observed["shortened"] == expected.shortened
    assert observed["other_hours"] == set()


@pytest.mark.parametrize("year", sorted(PRODUCTION_CALENDAR))
def test_r_hrs_1_2_3_i_1_working_time_norm_of_the_production_calendar(year):
    expected = PRODUCTION_CALENDAR[year]
    days = CALENDAR.days(date(year, 1, 1), date(year, 12, 31))
    assert sum(d.is_open for d in days) == expected.working_days
    assert sum(d.minutes for d in days) == expected.hours * 60
    year_start = datetime(year, 1, 1, tzinfo=MOSCOW)
    next_year_start = datetime(year + 1, 1, 1, tzinfo=MOSCOW)
    assert CALENDAR.support_minutes_between(year_start, next_year_start) == expected.hours * 60


@pytest.mark.parametrize("year", sorted(ONE_OFF_NON_WORKING_DAYS))
def test_i_1_one_off_non_working_days_entered_as_overrides(year):
    """2020–2021 with the presidential non-working days entered as `holiday` overrides: they
    close, and a pre-holiday day among them closes too."""
    expected = PRODUCTION_CALENDAR[year]
    one_offs = ONE_OFF_NON_WORKING_DAYS[year]
    observed = _observed(CALENDAR_WITH_ONE_OFFS, year)
    assert observed["non_working_weekdays"] == expected.non_working_weekdays | one_offs
    assert observed["working_weekends"] == expected.working_weekends
    assert observed["shortened"] == expected.shortened - one_offs
    assert observed["other_hours"] == set()


def test_i_1_one_off_days_of_2020_and_2021():
    # Mar 30 – Apr 30, May 6–8, Jun 24, Jul 1.
    assert len(ONE_OFF_NON_WORKING_DAYS[2020]) == 24 + 3 + 2
    assert len(ONE_OFF_NON_WORKING_DAYS[2021]) == 4 + 3  # May 4–7, Nov 1–3
    assert hours(CALENDAR_WITH_ONE_OFFS.day(date(2020, 4, 30))) is None  # was pre-holiday
    assert hours(CALENDAR_WITH_ONE_OFFS.day(date(2021, 11, 3))) is None  # was pre-holiday
    assert hours(CALENDAR_WITH_ONE_OFFS.day(date(2020, 6, 11))) == SHORT
    assert hours(CALENDAR_WITH_ONE_OFFS.day(date(2020, 3, 27))) == FULL
    assert CALENDAR_WITH_ONE_OFFS.day(date(2020, 4, 1)).reason == (
        "override: нерабочий день (указ Президента)"
    )


def test_r_hrs_2_2028_has_only_the_statutory_holidays():
    """No decree for 2028 yet: the package gives art. 112 holidays only (sanity check)."""
    assert hours(CALENDAR.day(date(2028, 1, 3))) is None
    assert hours(CALENDAR.day(date(2028, 1, 10))) == FULL
    assert hours(CALENDAR.day(date(2028, 5, 8))) == SHORT
    assert hours(CALENDAR.day(date(2028, 1, 1))) is None  # Saturday


# --- days() ----------------------------------------------------------------------------------


def test_i_1_days_includes_both_ends():
    days = CALENDAR.days(date(2024, 4, 26), date(2024, 5, 2))
    assert [d.date.day for d in days] == [26, 27, 28, 29, 30, 1, 2]
    assert [d.is_open for d in days] == [True, True, False, False, False, False, True]
    assert CALENDAR.days(date(2024, 5, 2), date(2024, 4, 26)) == []


def test_day_refuses_an_instant():
    with pytest.raises(TypeError):
        CALENDAR.day(datetime(2024, 3, 13, 12, 0, tzinfo=MOSCOW))


# --- support time arithmetic, hand-computed --------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "minutes"),
    [
        # R-HRS-1: Friday 17:30 → Monday 10:30 across a weekend: 30 + 30.
        ("2024-03-01 17:30", "2024-03-04 10:30", 60),
        # R-HRS-3: Thu Mar 7 closes at 17:00, Fri Mar 8 holiday, weekend, Mon Mar 11: 30 + 30.
        ("2024-03-07 16:30", "2024-03-11 10:30", 60),
        # I-1 decree transfer: Fri Apr 26 17:00, Sat Apr 27 works, Apr 28 – May 1 closed.
        ("2024-04-26 17:00", "2024-05-02 11:00", 60 + 480 + 60),
        # Whole days off and closed nights count nothing.
        ("2024-12-28 18:00", "2025-01-09 10:00", 0),
        ("2024-03-13 18:00", "2024-03-14 10:00", 0),
        # Within one day; an interval starting before opening.
        ("2024-03-13 10:15", "2024-03-13 10:45", 30),
        ("2024-03-13 08:00", "2024-03-13 12:00", 120),
        # Reversed or empty.
        ("2024-03-13 12:00", "2024-03-13 11:00", 0),
        ("2024-03-13 12:00", "2024-03-13 12:00", 0),
        # Seconds: exact arithmetic, floored once at the end.
        ("2024-03-13 10:00:00", "2024-03-13 10:00:59", 0),
        ("2024-03-13 10:00:30", "2024-03-13 10:01:30", 1),
        ("2024-03-13 17:59:30", "2024-03-14 10:00:30", 1),
    ],
)
def test_r_hrs_1_2_3_support_minutes_between(start, end, minutes):
    assert CALENDAR.support_minutes_between(msk(start), msk(end)) == minutes


@pytest.mark.parametrize(
    ("start", "minutes", "end"),
    [
        ("2024-03-01 17:30", 60, "2024-03-04 10:30"),
        ("2024-03-07 16:30", 60, "2024-03-11 10:30"),
        ("2024-04-26 17:00", 600, "2024-05-02 11:00"),
        # The earliest instant: used up exactly at closing, not at the next opening.
        ("2024-03-01 17:00", 60, "2024-03-01 18:00"),
        ("2024-03-07 16:00", 60, "2024-03-07 17:00"),
        # From outside hours, counting starts at the next opening.
        ("2024-03-02 12:00", 1, "2024-03-04 10:01"),
        ("2024-12-28 18:00", 1, "2025-01-09 10:01"),
        # Zero minutes is the start itself, even when closed.
        ("2024-03-02 12:00", 0, "2024-03-02 12:00"),
        ("2024-03-13 10:00:30", 1, "2024-03-13 10:01:30"),
    ],
)
def test_r_hrs_1_2_3_add_support_minutes(start, minutes, end):
    result = CALENDAR.add_support_minutes(msk(start), minutes)
    assert result == msk(end)
    assert result.tzinfo == MOSCOW


def test_add_support_minutes_refuses_negative_minutes():
    with pytest.raises(ValueError):
        CALENDAR.add_support_minutes(msk("2024-03-13 12:00"), -1)


def test_i_1_arithmetic_honours_overrides():
    calendar = SupportCalendar([CalendarOverride(date(2024, 3, 4), "holiday", "указ")])
    assert calendar.support_minutes_between(msk("2024-03-01 17:30"), msk("2024-03-05 10:30")) == 60
    assert calendar.add_support_minutes(msk("2024-03-01 17:30"), 60) == msk("2024-03-05 10:30")


def test_support_minutes_between_over_nine_years_is_fast():
    start, end = msk("2019-01-01 00:00"), msk("2028-01-01 00:00")
    expected = sum(PRODUCTION_CALENDAR[y].hours for y in PRODUCTION_CALENDAR) * 60
    assert CALENDAR.support_minutes_between(start, end) == expected
    assert CALENDAR.add_support_minutes(start, expected) == msk("2027-12-30 18:00")


# --- properties ------------------------------------------------------------------------------

_FIRST = datetime(2019, 1, 1, tzinfo=MOSCOW)
_SPAN_MINUTES = int((datetime(2028, 1, 1, tzinfo=MOSCOW) - _FIRST) / timedelta(minutes=1))

minute_instants = st.integers(0, _SPAN_MINUTES).map(lambda n: _FIRST + timedelta(minutes=n))
any_instants = st.integers(0, _SPAN_MINUTES * 60_000_000).map(
    lambda n: _FIRST + timedelta(microseconds=n)
)
nearby_minutes = st.integers(0, 60 * 24 * 60)  # up to 60 days


@settings(max_examples=200, deadline=None)
@given(minute_instants, nearby_minutes, nearby_minutes)
def test_r_hrs_1_support_time_is_additive_over_any_split_point(a, ab, bc):
    b = a + timedelta(minutes=ab)
    c = b + timedelta(minutes=bc)
    assert CALENDAR.support_minutes_between(a, c) == (
        CALENDAR.support_minutes_between(a, b) + CALENDAR.support_minutes_between(b, c)
    )


@settings(max_examples=200, deadline=None)
@given(any_instants, st.integers(0, 10**10), st.integers(0, 10**10))
def test_r_hrs_1_split_with_seconds_loses_at_most_one_minute(a, ab, bc):
    b = a + timedelta(microseconds=ab)
    c = b + timedelta(microseconds=bc)
    whole = CALENDAR.support_minutes_between(a, c)
    parts = CALENDAR.support_minutes_between(a, b) + CALENDAR.support_minutes_between(b, c)
    assert parts <= whole <= parts + 1


@settings(max_examples=200, deadline=None)
@given(any_instants, any_instants)
def test_r_hrs_1_support_time_is_never_negative(a, b):
    assert CALENDAR.support_minutes_between(a, b) >= 0
    assert CALENDAR.support_minutes_between(a, b) == 0 or a < b


@settings(max_examples=200, deadline=None)
@given(st.dates(date(2019, 1, 1), date(2027, 12, 31)))
def test_r_hrs_1_2_no_support_time_while_closed(day):
    midnight = datetime.combine(day, time(0), tzinfo=MOSCOW)
    next_midnight = midnight + timedelta(days=1)
    support_day = CALENDAR_WITH_ONE_OFFS.day(day)
    if not support_day.is_open:
        assert CALENDAR_WITH_ONE_OFFS.support_minutes_between(midnight, next_midnight) == 0
        assert not CALENDAR_WITH_ONE_OFFS.is_open_at(midnight + timedelta(hours=12))
        return
    opens, closes = support_day.hours()
    assert CALENDAR_WITH_ONE_OFFS.support_minutes_between(midnight, opens) == 0
    assert CALENDAR_WITH_ONE_OFFS.support_minutes_between(closes, next_midnight) == 0
    assert CALENDAR_WITH_ONE_OFFS.support_minutes_between(midnight, next_midnight) == (
        support_day.minutes
    )


@settings(max_examples=200, deadline=None)
@given(minute_instants)
def test_r_hrs_1_a_minute_counts_exactly_when_support_is_open(instant):
    minute = CALENDAR.support_minutes_between(instant, instant + timedelta(minutes=1))
    assert minute == (1 if CALENDAR.is_open_at(instant) else 0)


@settings(max_examples=200, deadline=None)
@given(any_instants, st.integers(0, 200_000))
def test_r_hrs_1_adding_then_measuring_gives_back_the_minutes(start, minutes):
    end = CALENDAR_WITH_ONE_OFFS.add_support_minutes(start, minutes)
    assert end >= start
    assert CALENDAR_WITH_ONE_OFFS.support_minutes_between(start, end) == minutes


@settings(max_examples=200, deadline=None)
@given(minute_instants, st.integers(1, 200_000))
def test_r_hrs_1_the_instant_added_to_is_the_earliest(start, minutes):
    end = CALENDAR.add_support_minutes(start, minutes)
    assert CALENDAR.support_minutes_between(start, end - timedelta(minutes=1)) == minutes - 1
    assert CALENDAR.is_open_at(end - timedelta(minutes=1))
