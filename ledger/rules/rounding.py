"""Rounding of standard-support time (R-STP-3, I-5)."""

from __future__ import annotations

FIRST_HOUR = 60
FIRST_HOUR_STEP = 30  # R-STP-3: the first hour in 30-minute steps
LATER_STEP = 60  # R-STP-3: from the second hour on, whole hours


def _round_up(minutes: int, step: int) -> int:
    return -(-minutes // step) * step


def billed_minutes(worked: int) -> int:
    """R-STP-3 applied to the billable minutes of one ticket-day (I-5):
    `30·⌈m/30⌉` when m ≤ 60, else `60·⌈m/60⌉` (1→30, 31→60, 61→120, 121→180); 0 → 0."""
    if worked < 0:
        raise ValueError("worked minutes cannot be negative")
    if worked <= FIRST_HOUR:
        return _round_up(worked, FIRST_HOUR_STEP)
    return _round_up(worked, LATER_STEP)
