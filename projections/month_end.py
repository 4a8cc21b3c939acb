"""Every client's invoice for one period, as known at K: what the month-end run computes.

It gives the same documents as asking `projections.invoice.invoice` client by client, but
reads far less: each client's own aggregates (client, priority, invoices), the tickets with
work in the period, and — only where a late fact can change an issued period whose
adjustments land on this one (I-9) — the tickets with work in that period. The record-time
index's marks (written with the events, `ledger.store.index`) answer which those are
without reading any payload. Clients are taken in chunks, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from ledger.application import SupportLedger
from ledger.bulk import bulk_collection
from ledger.events import REGISTERED_MARK
from ledger.timeutil import in_moscow
from ledger.billing.load import LateFacts, catalog_known_at, clients_for_period
from projections.invoice import invoice_of

CHUNK = 500  # clients read together


def invoices_for_period(ledger: SupportLedger, period: str, known_at: datetime) -> list[dict[str, Any]]:
    """The invoice document of every client registered as known at K, in registration order.
    A month-end run reads a large share of the index, so it refreshes the planner's
    statistics first (cheap: PostgreSQL samples; SQLite needs none)."""
    ledger.refresh_statistics()
    return list(iter_invoices_for_period(ledger, period, in_moscow(known_at)))


def iter_invoices_for_period(ledger: SupportLedger, period: str, known_at: datetime) -> Iterator[dict[str, Any]]:
    with bulk_collection():  # until the last document is read (ledger.bulk)
        catalog, catalog_events = catalog_known_at(ledger, known_at)
        registered = [row.client_id for row in ledger.marked(REGISTERED_MARK, known_at=known_at)]
        late = LateFacts(ledger, known_at, bulk=True)
        for start in range(0, len(registered), CHUNK):
            clients = registered[start : start + CHUNK]
            for knowledge in clients_for_period(ledger, clients, period, known_at, catalog, catalog_events, late):
                yield invoice_of(knowledge, period)


def decisions_needed(documents: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per client, the invoice lines that need a decision (R-PTP-3: work that lost the
    priority coverage it was logged under), for the month-end run to print:
    `{"client_id", "period", "status", "lines": <how many>, "minutes_worked": <their sum>,
    "problems": <the document's "problems">}`, only for documents that have any, in the
    documents' order."""
    return [
        {"client_id": document["client_id"], "period": document["period"], "status": document["status"],
         "lines": len(document["problems"]),
         "minutes_worked": sum(problem["minutes_worked"] or 0 for problem in document["problems"]),
         "problems": document["problems"]}
        for document in documents if document.get("problems")
    ]
