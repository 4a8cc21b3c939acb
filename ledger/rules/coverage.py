"""Priority coverage (R-PTP-1, R-PTP-6, R-PTP-7, I-7, I-8)."""

from __future__ import annotations

from datetime import datetime

from dateutil.relativedelta import relativedelta

from ledger.timeutil import in_moscow


def free_priority_month(handover_at: datetime) -> tuple[datetime, datetime]:
    """R-PTP-6, I-7: free priority from the first licence key handover to the same Moscow
    wall-clock instant one calendar month later (clamped to the month's last day), as a
    half-open interval [start, end)."""
    start = in_moscow(handover_at)
    return start, start + relativedelta(months=1)
