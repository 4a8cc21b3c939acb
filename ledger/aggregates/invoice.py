"""An issued invoice: frozen from the moment it is issued (I-9)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ledger.aggregates.base import LedgerAggregate
from ledger.events import InvoiceIssued


class Invoice(LedgerAggregate):
    stream_prefix = "invoice"

    @staticmethod
    def key(client_id: str, period: str) -> str:
        return f"{client_id}/{period}"

    @classmethod
    def issue(cls, client_id: str, period: str, at: datetime, document: dict[str, Any],
              known_at: datetime) -> Invoice:
        """Freeze a computed invoice document (lines and total) as issued at `at`."""
        return cls._start(
            InvoiceIssued, cls.key(client_id, period), client_id=client_id, period=period, at=at,
            known_at=known_at, lines=tuple(document["lines"]), total=Decimal(document["total"]),
        )

    @LedgerAggregate.when.register
    def _(self, event: InvoiceIssued) -> None:
        self.client_id = event.client_id
        self.period = event.period
        self.issued_at = event.at
        self.known_at = event.known_at
        self.lines = [dict(line) for line in event.lines]
        self.total = event.total
