"""Priority coverage: the free month (R-PTP-6, I-7), half-open intervals and sources (I-7),
continuity and new versions (R-PTP-4, I-8)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from dateutil.relativedelta import relativedelta

from ledger.rules.coverage import (
    CoverageInterval,
    KeyHandover,
    continuous_since,
    first_license_key_handover,
    free_priority_month,
    new_versions_included,
    sources_at,
)
from ledger.timeutil import MOSCOW

_MICROSECOND = timedelta(microseconds=1)


def msk(text: str) -> datetime:
    """A Moscow wall-clock instant, "YYYY-MM-DD HH:MM[:SS]"."""
    return datetime.fromisoformat(text).replace(tzinfo=MOSCOW)


def paid(start: str, end: str | None = None, ref: str = "S-1") -> CoverageInterval:
    return CoverageInterval("paid", msk(start), msk(end) if end else None, ref)


def first_month(start: str, end: str) -> CoverageInterval:
    return CoverageInterval("first_month", msk(start), msk(end), "L-1")


def pilot(start: str, end: str | None = None, ref: str = "P-1") -> CoverageInterval:
    return CoverageInterval("pilot", msk(start), msk(end) if end else None, ref)


# --- R-PTP-6, I-7: the free first month ---------------------------------------------------------


@pytest.mark.parametrize(
    ("handover", "ends"),
    [
        ("2025-01-15 12:00", "2025-02-15 12:00"),  # same wall-clock instant, a month later
        ("2025-01-31 12:00", "2025-02-28 12:00"),  # clamped to February's last day
        ("2024-01-31 12:00", "2024-02-29 12:00"),  # leap year
        ("2024-12-31 23:30", "2025-01-31 23:30"),  # across the year
        ("2025-03-31 09:15", "2025-04-30 09:15"),
    ],
)
def test_R_PTP_6_I_7_free_month_ends_same_moscow_instant_one_calendar_month_later(handover, ends):
    assert free_priority_month(msk(handover)) == (msk(handover), msk(ends))


d = date.fromisoformat


@pytest.mark.parametrize(
    ("licenses", "first"),
    [
        ({}, None),
        ({"L1": (d("2025-01-10"), None)}, None),  # issued, key not yet handed over
        ({"L1": (d("2025-01-10"), msk("2025-01-10 10:00"))}, ("L1", "2025-01-10 10:00")),
        # The earliest issue date wins, whatever the handovers: L2's key does not start a month.
        ({"L2": (d("2025-03-01"), msk("2025-03-01 12:00")), "L1": (d("2025-01-10"), msk("2025-01-10 10:00"))},
         ("L1", "2025-01-10 10:00")),
        ({"L1": (d("2025-01-10"), msk("2025-03-01 10:00")), "L2": (d("2025-02-01"), msk("2025-02-01 10:00"))},
         ("L1", "2025-03-01 10:00")),
        ({"L2": (d("2025-03-01"), msk("2025-03-01 12:00")), "L1": (d("2025-01-10"), None)}, None),
        # Issued the same day: the key handed over first, then the smaller licence id.
        ({"B": (d("2025-01-10"), msk("2025-01-11 09:00")), "A": (d("2025-01-10"), msk("2025-01-12 09:00"))},
         ("B", "2025-01-11 09:00")),
        ({"B": (d("2025-01-10"), msk("2025-01-11 09:00")), "A": (d("2025-01-10"), None)}, ("B", "2025-01-11 09:00")),
        ({"B": (d("2025-01-10"), msk("2025-01-11 09:00")), "A": (d("2025-01-10"), msk("2025-01-11 09:00"))},
         ("A", "2025-01-11 09:00")),
    ],
)
def test_R_PTP_6_R_PTP_4_the_first_licence_key_handover(licenses, first):
    """The one definition: the handover of the key of the earliest-issued licence; none
    while that key is not handed over. A dict's order (the record order) never matters."""
    expected = None if first is None else KeyHandover(first[0], msk(first[1]))
    assert first_license_key_handover(licenses) == expected
    assert first_license_key_handover(dict(reversed(list(licenses.items())))) == expected


def test_R_PTP_6_I_7_free_month_is_counted_on_the_moscow_calendar_not_utc():
    # 2025-01-30 21:30 UTC is 2025-01-31 00:30 in Moscow: one Moscow month later is
    # 2025-02-28 00:30 Moscow (a UTC-calendar month would give 2025-03-01 00:30 Moscow).
    start, end = free_priority_month(datetime(2025, 1, 30, 21, 30, tzinfo=timezone.utc))
    assert start == msk("2025-01-31 00:30")
    assert end == msk("2025-02-28 00:30")
    assert start.utcoffset() == end.utcoffset() == timedelta(hours=3)


def test_R_PTP_6_naive_handover_is_moscow_time():
    start, end = free_priority_month(datetime(2025, 1, 15, 12, 0))
    assert (start, end) == (msk("2025-01-15 12:00"), msk("2025-02-15 12:00"))


# --- I-7: half-open intervals and sources -------------------------------------------------------


def test_I_7_interval_holds_at_its_start_and_not_at_its_end():
    interval = paid("2025-02-01 10:00", "2025-03-01 10:00")
    assert not interval.holds_at(msk("2025-02-01 10:00") - _MICROSECOND)
    assert interval.holds_at(msk("2025-02-01 10:00"))
    assert interval.holds_at(msk("2025-03-01 10:00") - _MICROSECOND)
    assert not interval.holds_at(msk("2025-03-01 10:00"))


def test_I_7_open_ended_interval_holds_from_its_start_on():
    interval = paid("2025-02-01 10:00")
    assert not interval.holds_at(msk("2025-02-01 09:59"))
    assert interval.holds_at(msk("2099-12-31 23:59"))


def test_I_7_interval_compares_instants_not_wall_clocks():
    interval = paid("2025-02-01 10:00", "2025-03-01 10:00")  # 07:00 UTC both ends
    assert interval.holds_at(datetime(2025, 2, 1, 7, 0, tzinfo=timezone.utc))
    assert not interval.holds_at(datetime(2025, 3, 1, 7, 0, tzinfo=timezone.utc))


def test_I_7_sources_at_in_fixed_order_paid_first_month_pilot():
    intervals = [
        pilot("2025-01-01 00:00", "2025-06-01 00:00"),
        first_month("2025-01-15 12:00", "2025-02-15 12:00"),
        paid("2025-02-01 00:00"),
    ]
    assert sources_at(intervals, msk("2024-12-31 23:59")) == []
    assert sources_at(intervals, msk("2025-01-10 00:00")) == ["pilot"]
    assert sources_at(intervals, msk("2025-01-20 00:00")) == ["first_month", "pilot"]
    assert sources_at(intervals, msk("2025-02-10 00:00")) == ["paid", "first_month", "pilot"]
    assert sources_at(intervals, msk("2025-02-15 12:00")) == ["paid", "pilot"]
    assert sources_at(intervals, msk("2025-06-01 00:00")) == ["paid"]


def test_I_7_a_source_is_listed_once_however_many_intervals_give_it():
    intervals = [pilot("2025-01-01 00:00", ref="P-1"), pilot("2025-01-02 00:00", ref="P-2")]
    assert sources_at(intervals, msk("2025-01-03 00:00")) == ["pilot"]


# --- I-8: continuity ------------------------------------------------------------------------------


def test_I_8_continuous_since_the_start_of_the_interval_holding_at_T():
    assert continuous_since([paid("2025-01-01 00:00")], msk("2025-05-01 00:00")) == msk("2025-01-01 00:00")


def test_I_8_nothing_holds_at_T_means_no_continuity():
    intervals = [paid("2025-01-01 00:00", "2025-02-01 00:00")]
    assert continuous_since(intervals, msk("2024-12-31 00:00")) is None
    assert continuous_since(intervals, msk("2025-02-01 00:00")) is None  # half-open end
    assert continuous_since([], msk("2025-02-01 00:00")) is None


def test_I_8_gap_shorter_than_a_day_is_joined():
    # Gap 2025-02-15 12:00 -> 2025-02-16 11:59 is 23 h 59 min < 1 day: one run.
    intervals = [
        first_month("2025-01-15 12:00", "2025-02-15 12:00"),
        paid("2025-02-16 11:59"),
    ]
    assert continuous_since(intervals, msk("2025-06-01 00:00")) == msk("2025-01-15 12:00")


def test_I_8_gap_of_exactly_one_day_breaks_continuity():
    # Gap 2025-02-15 12:00 -> 2025-02-16 12:00 is exactly 1 day: "a day or more" breaks it.
    intervals = [
        first_month("2025-01-15 12:00", "2025-02-15 12:00"),
        paid("2025-02-16 12:00"),
    ]
    assert continuous_since(intervals, msk("2025-06-01 00:00")) == msk("2025-02-16 12:00")


def test_I_8_at_T_inside_a_short_gap_nothing_holds():
    intervals = [paid("2025-01-01 00:00", "2025-02-01 00:00"), paid("2025-02-01 12:00", ref="S-2")]
    assert continuous_since(intervals, msk("2025-02-01 06:00")) is None
    assert continuous_since(intervals, msk("2025-02-01 12:00")) == msk("2025-01-01 00:00")


def test_I_8_any_source_counts_and_order_of_input_does_not_matter():
    # pilot -> (2 h gap) free month -> (overlap) paid -> (23 h gap) paid again: one run.
    intervals = [
        paid("2025-04-01 10:00", ref="S-2"),
        first_month("2025-02-01 12:00", "2025-03-01 12:00"),
        pilot("2025-01-01 10:00", "2025-02-01 10:00"),
        paid("2025-02-20 00:00", "2025-03-31 11:00", ref="S-1"),
    ]
    assert continuous_since(intervals, msk("2025-06-01 00:00")) == msk("2025-01-01 10:00")


def test_I_8_a_later_interval_inside_the_run_does_not_shorten_it():
    # A short pilot entirely inside a long paid interval must not end the run at its own end.
    intervals = [
        paid("2025-01-01 00:00", "2025-12-31 00:00"),
        pilot("2025-02-01 00:00", "2025-02-10 00:00"),
    ]
    assert continuous_since(intervals, msk("2025-06-01 00:00")) == msk("2025-01-01 00:00")


def test_I_8_an_open_ended_interval_joins_everything_after_it():
    intervals = [paid("2025-01-01 00:00"), pilot("2026-01-01 00:00", "2026-02-01 00:00")]
    assert continuous_since(intervals, msk("2026-06-01 00:00")) == msk("2025-01-01 00:00")


# --- R-PTP-4, I-8: new versions ---------------------------------------------------------------------

HANDOVER = "2025-01-15 12:00"


def test_R_PTP_4_continuous_since_first_handover_includes_new_versions_at_once():
    intervals = [
        first_month(HANDOVER, "2025-02-15 12:00"),
        paid("2025-02-15 12:00"),
    ]
    assert new_versions_included(intervals, msk(HANDOVER), msk(HANDOVER))
    assert new_versions_included(intervals, msk(HANDOVER), msk("2025-03-01 00:00"))


def test_R_PTP_4_coverage_begun_before_the_handover_also_counts_as_since_the_handover():
    intervals = [pilot("2025-01-01 00:00", "2025-01-20 00:00"), paid("2025-01-20 00:00")]
    assert new_versions_included(intervals, msk(HANDOVER), msk("2025-02-01 00:00"))


def test_R_PTP_4_I_8_before_the_first_handover_only_the_twelve_month_rule_applies():
    # Pilot from 2024-06-01 (open-ended); first licence key handed over 2025-01-15. At
    # 2024-08-01 there is no handover yet and only 2 months of continuity: no new versions.
    intervals = [pilot("2024-06-01 00:00")]
    assert not new_versions_included(intervals, msk(HANDOVER), msk("2024-08-01 00:00"))
    assert new_versions_included(intervals, msk(HANDOVER), msk(HANDOVER))  # since <= handover


def test_R_PTP_4_I_8_otherwise_only_after_twelve_months_continuous():
    # Free month ends 2025-02-15 12:00; paid from 2025-02-16 12:00 (gap of 1 day: a break).
    # R-PTP-4 "at least 1 year": new versions from 2026-02-16 12:00 Moscow.
    intervals = [first_month(HANDOVER, "2025-02-15 12:00"), paid("2025-02-16 12:00")]
    assert not new_versions_included(intervals, msk(HANDOVER), msk("2025-06-01 00:00"))
    assert not new_versions_included(intervals, msk(HANDOVER), msk("2026-02-16 12:00") - _MICROSECOND)
    assert new_versions_included(intervals, msk(HANDOVER), msk("2026-02-16 12:00"))


def test_R_PTP_4_I_8_twelve_months_rule_without_any_handover():
    intervals = [paid("2025-03-10 10:00")]
    assert not new_versions_included(intervals, None, msk("2026-03-10 09:59"))
    assert new_versions_included(intervals, None, msk("2026-03-10 10:00"))


def test_R_PTP_4_I_8_a_gap_resets_the_twelve_months():
    # Two years continuous, a 2-day gap, then a new run: the old year no longer counts.
    intervals = [
        paid("2023-01-10 00:00", "2025-01-10 00:00", ref="S-1"),
        paid("2025-01-12 00:00", ref="S-2"),
    ]
    handover = msk("2022-06-01 00:00")  # before any coverage: not continuous since it
    assert new_versions_included(intervals, handover, msk("2025-01-09 00:00"))  # 2 years in
    assert not new_versions_included(intervals, handover, msk("2025-01-11 00:00"))  # in the gap
    assert not new_versions_included(intervals, handover, msk("2025-07-01 00:00"))
    assert new_versions_included(intervals, handover, msk("2026-01-12 00:00"))


def test_R_PTP_4_no_coverage_at_T_no_new_versions():
    intervals = [first_month(HANDOVER, "2025-02-15 12:00")]
    assert not new_versions_included(intervals, msk(HANDOVER), msk("2025-02-15 12:00"))


def test_I_7_a_subscriptions_coverage_follows_each_new_event_on_the_same_aggregate():
    """Each event shows at once on the same object, as it must within a batch of commands
    (the working set keeps aggregates in memory between commands)."""
    from ledger.aggregates import Subscription
    from ledger.context import recording

    start = datetime(2025, 3, 3, 10, 0, tzinfo=MOSCOW)
    with recording("tester"):
        account = Subscription.open_for("acme", start)
        assert list(account.coverage(None)) == []
        account.subscribe("S-1", start)
        assert [(i.source, i.starts_at, i.ends_at) for i in account.coverage(None)] == [("paid", start, None)]
        account.cancel("S-1", start + timedelta(days=10))
        assert [(i.source, i.ends_at) for i in account.coverage(None)] == [("paid", start + timedelta(days=10))]
        account.grant_pilot_coverage("P-1", start + timedelta(days=20))
        assert [i.source for i in account.coverage(None)] == ["paid", "pilot"]
        # The free month comes from the first licence key handover it is given (R-PTP-6).
        handover = KeyHandover("L-1", start)
        assert [(i.source, i.ref, i.ends_at) for i in account.coverage(handover) if i.source == "first_month"] == [
            ("first_month", "L-1", start + relativedelta(months=1))]
