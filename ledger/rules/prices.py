"""Prices and money (R-STP-2, R-PTP-1, I-6, I-7)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from ledger.errors import RuleViolationError

KOPECK = Decimal("0.01")
MINUTES_PER_HOUR = Decimal(60)


@dataclass(frozen=True)
class PriceList:
    effective_from: date
    norm_hour: Decimal
    priority_month: Decimal


def to_kopecks(amount: Decimal) -> Decimal:
    """I-7: every amount is rounded to kopecks, half up, once per invoice line."""
    return amount.quantize(KOPECK, rounding=ROUND_HALF_UP)


def price_list_in_force(price_lists: Mapping[date, tuple[Decimal, Decimal]], day: date) -> PriceList:
    """I-6: the price list with the latest effective date at or before `day` (in force
    from 00:00 Moscow on that date until the next one). For one effective date the
    latest publication wins: a later publication is a correction."""
    candidates = [effective for effective in price_lists if effective <= day]
    if not candidates:
        raise RuleViolationError(
            f"no price list is in force on {day.isoformat()}; publish one effective on or before it",
            rule="I-6",
        )
    effective = max(candidates)
    norm_hour, priority_month = price_lists[effective]
    return PriceList(effective, norm_hour, priority_month)


def standard_amount(billed_minutes: int, norm_hour: Decimal) -> Decimal:
    """R-STP-2: billed minutes at the norm-hour rate, to kopecks (I-7)."""
    return to_kopecks(Decimal(billed_minutes) / MINUTES_PER_HOUR * norm_hour)


def prorated_amount(days: int, days_in_month: int, priority_month: Decimal) -> Decimal:
    """I-7: each charged day costs the monthly price divided by the days in the month."""
    return to_kopecks(priority_month * days / days_in_month)
