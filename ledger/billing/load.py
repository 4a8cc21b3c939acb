"""The one loader of the bill: what computing one period's bill must read, for one client or
a chunk of clients, as known at record time K (I-9).

A bill for period P needs each client's own aggregates (client, priority, invoices), the
catalog, the tickets with work in P, and — only where a late fact can change an issued period
whose adjustments land on P — the tickets with work in that period. The record-time index's
marks say which tickets those are without reading any payload, so far fewer events are read
and folded than the client's whole history; the bill is the same as from the whole history
(tests/test_scale_equivalence.py checks it against a replay of the whole record).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from ledger.aggregates import Catalog, Client, Invoice, Subscription
from ledger.application import RecordedEvent, SupportLedger
from ledger.billing.bill import ClientKnowledge, Fact, facts_of, fold, knowledge_of, may_change, periods_landing_on
from ledger.errors import NotFoundError
from ledger.events import work_mark
from ledger.store.index import IndexQuery
from ledger.timeutil import in_moscow, parse_period


def unknown_client(client_id: str, known_at: datetime) -> NotFoundError:
    return NotFoundError(f"unknown client {client_id!r} (as known at {in_moscow(known_at).isoformat()})",
                         field="client_id")


def catalog_known_at(ledger: SupportLedger, known_at: datetime) -> tuple[Catalog, list[RecordedEvent]]:
    """The catalog as known at K. Every bill reads it and it seldom changes, so the ledger
    keeps the catalog's recorded events and reads them again only when the stream has grown;
    those recorded at or before K are exactly the ones the store would return."""
    stream = Catalog.stream_for(Catalog.KEY)
    everything = ledger.catalog_events
    if len(everything) != ledger.stream_version(stream):
        everything[:] = ledger.recorded_events(stream=stream)
        ledger.catalog_folds.clear()
    known_at = in_moscow(known_at)
    recorded = [item for item in everything if item.recorded_at <= known_at]
    if len(recorded) not in ledger.catalog_folds:
        ledger.catalog_folds[len(recorded)] = fold(recorded).get(stream) or Catalog.empty()
    return ledger.catalog_folds[len(recorded)], recorded  # type: ignore[return-value]


def client_for_period(ledger: SupportLedger, client_id: str, period: str, known_at: datetime) -> ClientKnowledge:
    """What one client's bill for `period` needs, as known at K, read in one transaction."""
    parse_period(period)
    known_at = in_moscow(known_at)
    with ledger.reading():
        catalog, catalog_events = catalog_known_at(ledger, known_at)
        [knowledge] = clients_for_period(ledger, [client_id], period, known_at, catalog, catalog_events)
    return knowledge


Facts = dict[str, list[Fact]]  # client -> its facts


class LateFacts:
    """Facts recorded after an invoice was issued and up to K, by client (I-9).

    A few clients read their own aggregates' events. A bulk run (`bulk=True`) instead scans
    the stretch of the log after the earliest issue it has been asked about, once for every
    client, and widens it only when a later chunk of clients reaches further back: each
    event is read once, not once per chunk."""

    def __init__(self, ledger: SupportLedger, known_at: datetime, *, bulk: bool = False):
        self.ledger, self.known_at, self.bulk = ledger, known_at, bulk
        self.since: datetime | None = None  # the bulk scan covers (since, K]
        self.facts: Facts = defaultdict(list)

    def after(self, since: datetime, clients: list[str]) -> Facts:
        """At least every fact of `clients` recorded after `since` (more may come along:
        `may_change` compares each with the issue it concerns)."""
        if not self.bulk:
            recorded = self.ledger.recorded_events(IndexQuery(clients=clients, recorded_after=since),
                                                   known_at=self.known_at)
            return {client_id: list(facts_of(events)) for client_id, events in _by_client(recorded).items()}
        if self.since is None or since < self.since:
            more = self.ledger.client_facts(since, self.since or self.known_at)
            for client_id, facts in more.items():
                self.facts[client_id] += facts
            self.since = since
        return self.facts


def clients_for_period(ledger: SupportLedger, clients: list[str], period: str, known_at: datetime,
                       catalog: Catalog, catalog_events: list[RecordedEvent],
                       late: LateFacts | None = None) -> list[ClientKnowledge]:
    """What each client's bill for `period` needs, as known at K, in the order given. A
    client not registered as known at K is refused (NotFoundError). Bulk runs pass one
    `LateFacts(bulk=True)` for all their chunks of clients. (A chunk of clients does seconds
    of Python work between its reads, which should not hold a transaction open.)"""
    late = late or LateFacts(ledger, known_at)
    streams = [s for c in clients for s in (Client.stream_for(c), Subscription.stream_for(c))]
    own = _by_client(ledger.recorded_events(IndexQuery(streams=streams), known_at=known_at))
    invoices = _by_client(ledger.recorded_events(
        IndexQuery(stream_prefix=f"{Invoice.stream_prefix}/", clients=clients), known_at=known_at))
    folded = {c: fold([*own.get(c, []), *invoices.get(c, [])]) for c in clients}
    for client_id in clients:
        if Client.stream_for(client_id) not in folded[client_id]:
            raise unknown_client(client_id, known_at)
    windows = _periods_to_compute(clients, period, folded, catalog_events, late)
    ticket_streams = _tickets_with_work(ledger, clients, windows, known_at)
    tickets = _by_client(ledger.recorded_events(IndexQuery(streams=sorted(ticket_streams)), known_at=known_at))
    knowledge = []
    for client_id in clients:
        events = sorted([*own.get(client_id, []), *invoices.get(client_id, []), *tickets.get(client_id, [])],
                        key=lambda e: e.notification_id)
        aggregates = {**folded[client_id], **fold(tickets.get(client_id, []))}
        knowledge.append(knowledge_of(client_id, known_at, aggregates, events, catalog, catalog_events))
    return knowledge


def _periods_to_compute(clients, period, folded, catalog_events, late) -> dict[str, set[str]]:
    """Per client: the period itself, plus each issued period whose adjustments land on it
    and that something recorded after its issue may have changed (I-9)."""
    issued = {c: _issued(folded[c]) for c in clients}
    landing = {c: periods_landing_on(period, issued[c]) for c in clients}
    since = min((issued[c][q].known_at for c in clients for q in landing[c]), default=None)
    facts = {} if since is None else late.after(since, clients)
    late_catalog = list(facts_of(e for e in catalog_events if since is not None and e.recorded_at > since))
    windows = {}
    for c in clients:
        changed = {q for q in landing[c]
                   if may_change(q, issued[c][q].known_at, [*facts.get(c, []), *late_catalog])}
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
