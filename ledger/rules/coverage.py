"""Priority coverage (R-PTP-1..7, I-7, I-8): intervals, sources, continuity, obligations."""

from __future__ import annotations

import functools

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, NamedTuple

from dateutil.relativedelta import relativedelta

from ledger.timeutil import days_between, in_moscow, start_of_day

Source = Literal["paid", "first_month", "pilot"]
SOURCES: tuple[Source, ...] = ("paid", "first_month", "pilot")
FREE_SOURCES: frozenset[str] = frozenset({"first_month", "pilot"})  # R-PTP-6, R-PTP-7
CONTINUITY_GAP = timedelta(days=1)  # I-8: a gap of a day or more breaks continuity
CONTINUITY_FOR_NEW_VERSIONS = relativedelta(months=12)  # R-PTP-4: "at least 1 year"


@dataclass(frozen=True)
class CoverageInterval:
    """Half-open [starts_at, ends_at) of priority coverage from one source (I-7);
    `ends_at` None means open-ended. `ref` names the subscription, licence or pilot."""

    source: Source
    starts_at: datetime
    ends_at: datetime | None
    ref: str

    def holds_at(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.ends_at is None or at < self.ends_at)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether coverage holds at some moment of [start, end)."""
        return self.starts_at < end and (self.ends_at is None or self.ends_at > start)


class KeyHandover(NamedTuple):
    """A licence key handed over: which licence, and when."""

    license_id: str
    at: datetime


def first_license_key_handover(
    licenses: Mapping[str, tuple[date, datetime | None]],
) -> KeyHandover | None:
    """R-PTP-6, R-PTP-4, I-8: *the first licence key handover* — the one definition both
    rules read, a function of the facts alone (never of the order they were recorded in).

    `licenses` maps each licence id to (issue date, key handover instant or None). The
    first licence is the one with the earliest issue date ("the first-ever licence
    purchase"); of several issued the same day, the one whose key was handed over first,
    then the smallest licence id. The first licence key handover is the handover of that
    licence's key. While it is not known there is none: no free month, and continuity can
    only come from the 12-month clause — even if another licence's key was handed over."""
    if not licenses:
        return None

    def purchase_order(item: tuple[str, tuple[date, datetime | None]]) -> tuple:
        license_id, (issued_on, handed_over_at) = item
        handed = handed_over_at.timestamp() if handed_over_at is not None else 0.0
        return (issued_on, handed_over_at is None, handed, license_id)

    license_id, (_, handed_over_at) = min(licenses.items(), key=purchase_order)
    return None if handed_over_at is None else KeyHandover(license_id, handed_over_at)


def free_month_coverage(first_handover: KeyHandover | None) -> list[CoverageInterval]:
    """R-PTP-6, I-7: the free first month, from the first licence key handover."""
    if first_handover is None:
        return []
    starts_at, ends_at = free_priority_month(first_handover.at)
    return [CoverageInterval("first_month", starts_at, ends_at, first_handover.license_id)]


@functools.lru_cache(maxsize=4096)  # pure, and asked for at every LogTime of a client
def free_priority_month(handover_at: datetime) -> tuple[datetime, datetime]:
    """R-PTP-6, I-7: free priority from the first licence key handover to the same Moscow
    wall-clock instant one calendar month later (clamped to the month's last day), as a
    half-open interval [start, end)."""
    start = in_moscow(handover_at)
    return start, start + relativedelta(months=1)


def sources_at(intervals: Iterable[CoverageInterval], at: datetime) -> list[Source]:
    """I-7: which sources give priority coverage at `at`, in a fixed order."""
    holding = {i.source for i in intervals if i.holds_at(at)}
    return [s for s in SOURCES if s in holding]


def continuous_since(intervals: Iterable[CoverageInterval], at: datetime) -> datetime | None:
    """I-8: the start of the unbroken run of coverage (any source) that holds at `at`,
    joining intervals whose gap is shorter than a day; None when nothing holds at `at`."""
    ordered = sorted(intervals, key=lambda i: i.starts_at)
    run_start: datetime | None = None
    run_end: datetime | None = None  # None = open-ended
    for interval in ordered:
        if interval.starts_at > at:
            break
        joins = run_start is not None and (
            run_end is None or interval.starts_at - run_end < CONTINUITY_GAP
        )
        if not joins:
            run_start, run_end = interval.starts_at, interval.ends_at
        elif run_end is not None:
            run_end = None if interval.ends_at is None else max(run_end, interval.ends_at)
    if run_start is None or (run_end is not None and run_end <= at):
        return None
    return run_start


def new_versions_included(
    intervals: Iterable[CoverageInterval], first_handover_at: datetime | None, at: datetime
) -> bool:
    """R-PTP-4, I-8: new versions on release while coverage has been continuous since the
    first licence key handover, or continuously for at least 12 months."""
    since = continuous_since(list(intervals), at)
    if since is None:
        return False
    if first_handover_at is not None and since <= first_handover_at <= at:
        return True
    return since + CONTINUITY_FOR_NEW_VERSIONS <= at


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    return start_of_day(day), start_of_day(day + timedelta(days=1))


def is_fee_day(intervals: Iterable[CoverageInterval], day: date) -> bool:
    """I-7: a Moscow calendar day is charged when at some moment of it paid coverage holds
    and no free grant (first month, pilot) does."""
    day_start, day_end = _day_bounds(day)
    intervals = list(intervals)
    free = sorted(
        (max(i.starts_at, day_start), min(i.ends_at or day_end, day_end))
        for i in intervals
        if i.source in FREE_SOURCES and i.overlaps(day_start, day_end)
    )
    for paid in (i for i in intervals if i.source == "paid" and i.overlaps(day_start, day_end)):
        cursor, end = max(paid.starts_at, day_start), min(paid.ends_at or day_end, day_end)
        for free_start, free_end in free:  # walk the free spans; any uncovered moment counts
            if free_start > cursor:
                return True
            cursor = max(cursor, free_end)
            if cursor >= end:
                break
        if cursor < end:
            return True
    return False


def fee_days(intervals: Iterable[CoverageInterval], first: date, following: date) -> list[date]:
    """I-7: the charged days of [first, following)."""
    intervals = list(intervals)
    paid = {day for i in intervals if i.source == "paid" for day in days_covered(i, first, following)}
    if not paid:
        return []
    free = {day for i in intervals if i.source in FREE_SOURCES for day in days_covered(i, first, following)}
    # A day touched by paid coverage only is charged; where a free grant touches it too,
    # look closer: is there a moment with paid coverage and no free grant?
    return sorted(day for day in paid if day not in free or is_fee_day(intervals, day))


def days_covered(interval: CoverageInterval, first: date, following: date) -> list[date]:
    """The days of [first, following) at some moment of which `interval` holds."""
    start = max(first, in_moscow(interval.starts_at).date())
    if interval.ends_at is None:
        end = following
    else:
        last = in_moscow(interval.ends_at - timedelta(microseconds=1)).date()  # half-open
        end = min(following, last + timedelta(days=1))
    return days_between(start, end) if start < end else []
