"""Every client's invoice for one period, as known at K: what the month-end run computes.

It gives the same documents as asking `projections.invoice.invoice` client by client, but
reads far less: each client's own aggregates (client, priority, invoices), the tickets with
work in the period, and — only where a late fact can change an issued period whose
adjustments land on this one (I-9) — the tickets with work in that period. The record-time
index's marks (written with the events, `ledger.persistence`) answer which those are
without reading any payload. Clients are taken in chunks, so memory stays bounded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ledger.aggregates import Client, Invoice, Subscription
from ledger.application import RecordedEvent, SupportLedger
from ledger.events import REGISTERED_MARK, work_mark
from ledger.persistence import IndexQuery
from ledger.timeutil import in_moscow
from projections.invoice import facts_of, invoice_of, may_change, periods_landing_on
from projections.knowledge import ClientKnowledge, catalog_known_at, fold, knowledge_of

CHUNK = 500  # clients read together


def invoices_for_period(ledger: SupportLedger, period: str, known_at: datetime) -> list[dict[str, Any]]:
    """The invoice document of every client registered as known at K, in registration order.
    A month-end run reads a large share of the index, so it refreshes the planner's
    statistics first (cheap: PostgreSQL samples; SQLite needs none)."""
    ledger.refresh_statistics()
    return list(iter_invoices_for_period(ledger, period, in_moscow(known_at)))


def iter_invoices_for_period(ledger: SupportLedger, period: str, known_at: datetime) -> Iterator[dict[str, Any]]:
    catalog, catalog_events = catalog_known_at(ledger, known_at)
    registered = [row.client_id for row in ledger.marked(REGISTERED_MARK, known_at=known_at)]
    for start in range(0, len(registered), CHUNK):
        clients = registered[start : start + CHUNK]
        for knowledge in _knowledge_of(ledger, clients, period, known_at, catalog, catalog_events):
            yield invoice_of(knowledge, period)


def _knowledge_of(ledger, clients, period, known_at, catalog, catalog_events) -> list[ClientKnowledge]:
    streams = [s for c in clients for s in (Client.stream_for(c), Subscription.stream_for(c))]
    own = _by_client(ledger.recorded_events(IndexQuery(streams=streams), known_at=known_at))
    invoices = _by_client(ledger.recorded_events(
        IndexQuery(stream_prefix=f"{Invoice.stream_prefix}/", clients=clients), known_at=known_at))
    folded = {c: fold([*own.get(c, []), *invoices.get(c, [])]) for c in clients}
    windows = _periods_to_compute(ledger, clients, period, known_at, folded, catalog_events)
    ticket_streams = _tickets_with_work(ledger, clients, windows, known_at)
    tickets = _by_client(ledger.recorded_events(IndexQuery(streams=sorted(ticket_streams)), known_at=known_at))
    knowledge = []
    for client_id in clients:
        events = sorted([*own.get(client_id, []), *invoices.get(client_id, []), *tickets.get(client_id, [])],
                        key=lambda e: e.notification_id)
        aggregates = {**folded[client_id], **fold(tickets.get(client_id, []))}
        knowledge.append(knowledge_of(client_id, known_at, aggregates, events, catalog, catalog_events))
    return knowledge


def _periods_to_compute(ledger, clients, period, known_at, folded, catalog_events) -> dict[str, set[str]]:
    """Per client: the period itself, plus each issued period whose adjustments land on it
    and that something recorded after its issue may have changed (I-9)."""
    issued = {c: _issued(folded[c]) for c in clients}
    landing = {c: periods_landing_on(period, issued[c]) for c in clients}
    since = min((issued[c][q].known_at for c in clients for q in landing[c]), default=None)
    late: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    if since is not None:
        recorded = ledger.recorded_events(IndexQuery(clients=clients, recorded_after=since), known_at=known_at)
        for client_id, events in _by_client(recorded).items():
            late[client_id] += facts_of(events)
    late_catalog = list(facts_of(e for e in catalog_events if since is not None and e.recorded_at > since))
    windows = {}
    for c in clients:
        changed = {q for q in landing[c]
                   if may_change(q, issued[c][q].known_at, [*late[c], *late_catalog])}
        windows[c] = {period, *changed}
    return windows


def _tickets_with_work(ledger, clients, windows, known_at) -> set[str]:
    wanted = set(clients)
    streams = set()
    for window in sorted({p for periods in windows.values() for p in periods}):
        rows = ledger.marked(work_mark(window), clients=clients, known_at=known_at)
        streams |= {r.originator_id for r in rows if r.client_id in wanted and window in windows[r.client_id]}
    return streams


def _issued(aggregates: dict[str, Any]) -> dict[str, Invoice]:
    return {a.period: a for a in aggregates.values() if isinstance(a, Invoice)}


def _by_client(events: list[RecordedEvent]) -> dict[str, list[RecordedEvent]]:
    grouped: dict[str, list[RecordedEvent]] = defaultdict(list)
    for item in events:
        grouped[item.event.client_id].append(item)  # type: ignore[index]
    return grouped
