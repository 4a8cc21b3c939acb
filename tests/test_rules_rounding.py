"""Rounding of standard-support time: R-STP-3, applied per ticket-day (I-5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.rules.rounding import billed_minutes

WORKED = st.integers(min_value=0, max_value=24 * 60 * 3)  # a busy ticket-day and beyond


@pytest.mark.parametrize(
    ("worked", "billed"),
    [
        (0, 0),  # nothing worked, nothing billed
        (1, 30),  # R-STP-3: first hour in 30-minute steps, 30·⌈1/30⌉ = 30
        (29, 30),
        (30, 30),  # 30·⌈30/30⌉ = 30
        (31, 60),  # 30·⌈31/30⌉ = 60
        (59, 60),
        (60, 60),  # still the first hour: 30·⌈60/30⌉ = 60
        (61, 120),  # second hour begun: whole hours, 60·⌈61/60⌉ = 120
        (90, 120),  # not 90: after the first hour there are no half hours
        (119, 120),
        (120, 120),
        (121, 180),  # 60·⌈121/60⌉ = 180
        (1440, 1440),  # 24 whole hours
    ],
)
def test_R_STP_3_rounding_table(worked, billed):
    assert billed_minutes(worked) == billed


def test_R_STP_3_negative_minutes_are_refused():
    with pytest.raises(ValueError):
        billed_minutes(-1)


@given(WORKED)
def test_R_STP_3_never_bills_less_than_worked(worked):
    assert billed_minutes(worked) >= worked


@given(st.integers(min_value=1, max_value=60))
def test_R_STP_3_first_hour_is_billed_in_half_hours(worked):
    billed = billed_minutes(worked)
    assert billed % 30 == 0 and billed in (30, 60)


@given(st.integers(min_value=61, max_value=24 * 60 * 3))
def test_R_STP_3_beyond_the_first_hour_whole_hours_are_billed(worked):
    assert billed_minutes(worked) % 60 == 0


@given(WORKED, WORKED)
def test_R_STP_3_I_5_more_work_never_bills_less(a, b):
    low, high = sorted((a, b))
    assert billed_minutes(low) <= billed_minutes(high)


@given(WORKED)
def test_R_STP_3_rounds_up_by_less_than_one_step(worked):
    billed = billed_minutes(worked)
    assert billed - worked < 60
    if worked <= 60:
        assert billed - worked < 30  # R-STP-3: the first hour's step is 30 minutes


@given(WORKED)
def test_R_STP_3_is_the_smallest_allowed_amount(worked):
    # The billed figure is the least multiple of the applicable step that covers the work.
    step = 30 if worked <= 60 else 60
    billed = billed_minutes(worked)
    assert billed % step == 0 and billed - step < worked
