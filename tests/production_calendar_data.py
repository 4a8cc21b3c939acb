"""The official Russian production calendar (производственный календарь), 2019–2027, as a
regression table for the support calendar (R-HRS-1..3, I-1).

Written from Labour Code art. 112 and the government decrees moving days off (sources per year
below); cross-checked against the `holidays` package 0.109 and the published norms of working
time for a 40-hour week (consultant.ru). Days are "MM-DD" within the year.

Per year:
- `non_working_weekdays`: Monday–Friday days off: public holidays, days off moved by decree
  and the Monday after a holiday falling on a weekend (art. 112 part 2);
- `working_weekends`: Saturdays a decree makes working days;
- `shortened`: pre-holiday days, shortened by one hour (art. 95), as published with the
  year's calendar — before the one-off presidential non-working days below;
- `working_days`, `hours`: the published norm for the 40-hour week (again before the
  one-off days: Mintrud did not change the norm for them).

No disagreement was found between this table, the package and I-1 for 2019–2027. 2027 rests
on the package's transfer list (Feb 20 → Feb 22, Jan 2 → Nov 5, Jan 3 → Dec 31, after its
consultant.ru source); it has the same shape as 2021, which starts on the same weekday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class ProductionYear:
    year: int
    non_working_weekdays: frozenset[date]
    working_weekends: frozenset[date]
    shortened: frozenset[date]
    working_days: int
    hours: int


def _year(
    year: int,
    *,
    non_working_weekdays: str,
    working_weekends: str = "",
    shortened: str,
    working_days: int,
    hours: int,
) -> ProductionYear:
    def dates(text: str) -> frozenset[date]:
        return frozenset(date.fromisoformat(f"{year}-{day}") for day in text.split())

    return ProductionYear(
        year,
        dates(non_working_weekdays),
        dates(working_weekends),
        dates(shortened),
        working_days,
        hours,
    )


def _weekdays(first: str, last: str) -> frozenset[date]:
    days = (date.fromisoformat(first) + timedelta(n) for n in range(366))
    return frozenset(d for d in days if d <= date.fromisoformat(last) and d.weekday() < 5)


PRODUCTION_CALENDAR: dict[int, ProductionYear] = {
    calendar.year: calendar
    for calendar in (
        # Government decree (постановление) No. 1163 of 01.10.2018: Jan 5 → May 2,
        # Jan 6 → May 3, Feb 23 (Sat) → May 10.
        _year(
            2019,
            non_working_weekdays="01-01 01-02 01-03 01-04 01-07 01-08 03-08 "
            "05-01 05-02 05-03 05-09 05-10 06-12 11-04",
            shortened="02-22 03-07 04-30 05-08 06-11 12-31",
            working_days=247,
            hours=1970,
        ),
        # Government decree of July 2019 (consultant.ru cons_doc_LAW_328918): Jan 4 → May 4,
        # Jan 5 → May 5; Feb 23, Mar 8, May 9 fall on weekends → the next Monday.
        _year(
            2020,
            non_working_weekdays="01-01 01-02 01-03 01-06 01-07 01-08 02-24 03-09 "
            "05-01 05-04 05-05 05-11 06-12 11-04",
            shortened="04-30 05-08 06-11 11-03 12-31",
            working_days=248,
            hours=1979,
        ),
        # Government decree of October 2020 (consultant.ru cons_doc_LAW_365179): Jan 2 → Nov 5,
        # Jan 3 → Dec 31, Sat Feb 20 → Feb 22. Feb 20 takes over Monday Feb 22's regime
        # (before Feb 23): shortened.
        _year(
            2021,
            non_working_weekdays="01-01 01-04 01-05 01-06 01-07 01-08 02-22 02-23 03-08 "
            "05-03 05-10 06-14 11-04 11-05 12-31",
            working_weekends="02-20",
            shortened="02-20 04-30 06-11 11-03",
            working_days=247,
            hours=1972,
        ),
        # Government decree of 17.09.2021 (consultant.ru cons_doc_LAW_395538): Sat Mar 5 → Mar 7,
        # Jan 1 → May 3, Jan 2 → May 10. Mar 5 takes over Mar 7's regime: shortened.
        _year(
            2022,
            non_working_weekdays="01-03 01-04 01-05 01-06 01-07 02-23 03-07 03-08 "
            "05-02 05-03 05-09 05-10 06-13 11-04",
            working_weekends="03-05",
            shortened="02-22 03-05 11-03",
            working_days=247,
            hours=1973,
        ),
        # Decree No. 1505 of 29.08.2022: Jan 1 → Feb 24, Jan 8 → May 8.
        _year(
            2023,
            non_working_weekdays="01-02 01-03 01-04 01-05 01-06 02-23 02-24 03-08 "
            "05-01 05-08 05-09 06-12 11-06",
            shortened="02-22 03-07 11-03",
            working_days=247,
            hours=1973,
        ),
        # Decree No. 1314 of 10.08.2023: Sat Apr 27 → Apr 29, Sat Nov 2 → Apr 30,
        # Jan 6 → May 10, Sat Dec 28 → Dec 30, Jan 7 → Dec 31. Nov 2 takes over Apr 30's regime
        # (before May 1): shortened; Apr 27 (for Apr 29) and Dec 28 (for Dec 30) are full days.
        _year(
            2024,
            non_working_weekdays="01-01 01-02 01-03 01-04 01-05 01-08 02-23 03-08 "
            "04-29 04-30 05-01 05-09 05-10 06-12 11-04 12-30 12-31",
            working_weekends="04-27 11-02 12-28",
            shortened="02-22 03-07 05-08 06-11 11-02",
            working_days=248,
            hours=1979,
        ),
        # Decree No. 1335 of 04.10.2024: Jan 4 → May 2, Jan 5 → Dec 31, Feb 23 → May 8,
        # Mar 8 → Jun 13, Sat Nov 1 → Nov 3. Nov 1 takes over Nov 3's regime (before Nov 4):
        # shortened. Feb 21 is a full day (Feb 23 is a Sunday); so are May 7 and Dec 30, whose
        # next days are days off moved by decree, not statutory holidays.
        _year(
            2025,
            non_working_weekdays="01-01 01-02 01-03 01-06 01-07 01-08 05-01 05-02 05-08 "
            "05-09 06-12 06-13 11-03 11-04 12-31",
            working_weekends="11-01",
            shortened="03-07 04-30 06-11 11-01",
            working_days=247,
            hours=1972,
        ),
        # Decree No. 1466 of 24.09.2025: Jan 3 → Jan 9, Jan 4 → Dec 31; Mar 8 and May 9 fall on
        # weekends → the next Monday.
        _year(
            2026,
            non_working_weekdays="01-01 01-02 01-05 01-06 01-07 01-08 01-09 02-23 03-09 "
            "05-01 05-11 06-12 11-04 12-31",
            shortened="04-30 05-08 06-11 11-03",
            working_days=247,
            hours=1972,
        ),
        # Government decree of 2026, as the package has it (consultant.ru cons_doc_LAW_544706),
        # not confirmed independently:
        # Sat Feb 20 → Feb 22, Jan 2 → Nov 5, Jan 3 → Dec 31; May 1, May 9, Jun 12 fall on
        # weekends → the next Monday. Feb 20 takes over Feb 22's regime: shortened.
        _year(
            2027,
            non_working_weekdays="01-01 01-04 01-05 01-06 01-07 01-08 02-22 02-23 03-08 "
            "05-03 05-10 06-14 11-04 11-05 12-31",
            working_weekends="02-20",
            shortened="02-20 04-30 06-11 11-03",
            working_days=247,
            hours=1972,
        ),
    )
}

# One-off non-working weekdays by presidential decree, which the package does not know; the
# ledger enters them as `holiday` overrides (I-1). They are not statutory holidays, so the day
# before them is not pre-holiday (I-1, and so in the official calendar).
ONE_OFF_NON_WORKING_DAYS: dict[int, frozenset[date]] = {
    2020: (
        # Decrees No. 206 of 25.03.2020 and No. 239 of 02.04.2020: "нерабочие дни".
        _weekdays("2020-03-30", "2020-04-30")
        # Decree No. 294 of 28.04.2020.
        | _weekdays("2020-05-06", "2020-05-08")
        # Decree No. 345 of 29.05.2020 (Victory parade) and No. 354 of 01.06.2020 (the vote).
        | {date(2020, 6, 24), date(2020, 7, 1)}
    ),
    2021: (
        # Decree No. 242 of 23.04.2021.
        _weekdays("2021-05-04", "2021-05-07")
        # Decree No. 595 of 20.10.2021 (Oct 30 – Nov 7; Nov 4 a holiday, Nov 5 a day off).
        | _weekdays("2021-11-01", "2021-11-03")
    ),
}
