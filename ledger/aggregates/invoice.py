"""An issued invoice: frozen from the moment it is issued (I-9)."""

from __future__ import annotations

from datetime import datetime

from ledger.aggregates.base import LedgerAggregate
from ledger.events import InvoiceIssued


class Invoice(LedgerAggregate):
    stream_prefix = "invoice"

    @staticmethod
    def key(client_id: str, period: str) -> str:
        return f"{client_id}/{period}"

    @classmethod
    def issue(cls, client_id: str, period: str, at: datetime) -> Invoice:
        return cls._start(InvoiceIssued, cls.key(client_id, period), client_id=client_id, period=period, at=at)

    @LedgerAggregate.when.register
    def _(self, event: InvoiceIssued) -> None:
        self.client_id = event.client_id
        self.period = event.period
        self.issued_at = event.at
