"""Every client's invoice for one period, as known at K: what the month-end run computes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.application import SupportLedger
from projections.invoice import invoice


def invoices_for_period(ledger: SupportLedger, period: str, known_at: datetime) -> list[dict[str, Any]]:
    """The invoice document of every client registered as known at K, in registration order."""
    return [invoice(ledger, client_id, period, known_at) for client_id in ledger.client_ids()]
