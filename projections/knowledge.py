"""What the ledger knew at record time K, folded from events: the read side's one fold.

An aggregate's `when` handlers are already a fold (state, event) -> state, so the read side
replays the events recorded up to K through the same aggregates instead of re-implementing
their state. The rules (`ledger.rules`) then answer for any valid time T from that state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.aggregates import Catalog, Client, Invoice, Subscription, Ticket
from ledger.aggregates.base import LedgerAggregate, replay
from ledger.application import RecordedEvent, SupportLedger
from ledger.errors import NotFoundError
from ledger.rules.coverage import CoverageInterval
from ledger.timeutil import in_moscow


def fold(recorded: Iterable[RecordedEvent]) -> dict[str, LedgerAggregate]:
    """Replay recorded events (in record order) into their aggregates, keyed by stream id."""
    return replay(item.event for item in recorded)


@dataclass
class ClientKnowledge:
    """One client as known at K: its aggregates, the catalog, and the events behind them."""

    known_at: datetime
    client: Client
    priority: Subscription
    catalog: Catalog
    tickets: dict[str, Ticket] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    events: list[RecordedEvent] = field(default_factory=list)
    catalog_events: list[RecordedEvent] = field(default_factory=list)

    def coverage(self) -> list[CoverageInterval]:
        """I-7: the client's priority coverage, the free month from its first licence key
        handover as known at K (R-PTP-6)."""
        return self.priority.coverage(self.client.first_key_handover)


def catalog_known_at(ledger: SupportLedger, known_at: datetime) -> tuple[Catalog, list[RecordedEvent]]:
    """The catalog as known at K. Every invoice reads it and it seldom changes, so the
    ledger keeps the catalog's recorded events and reads them again only when the stream
    has grown; those recorded at or before K are exactly the ones the store would return."""
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


def client_known_at(ledger: SupportLedger, client_id: str, known_at: datetime) -> ClientKnowledge:
    """Everything the ledger knew about one client at K (its whole history, for explanations)."""
    with ledger.reading():
        recorded = ledger.recorded_events(client_id=client_id, known_at=known_at)
        catalog, catalog_events = catalog_known_at(ledger, known_at)
    aggregates = fold(recorded)
    if Client.stream_for(client_id) not in aggregates:
        raise unknown_client(client_id, known_at)
    return knowledge_of(client_id, known_at, aggregates, recorded, catalog, catalog_events)


def unknown_client(client_id: str, known_at: datetime) -> NotFoundError:
    return NotFoundError(f"unknown client {client_id!r} (as known at {in_moscow(known_at).isoformat()})",
                         field="client_id")


def knowledge_of(client_id: str, known_at: datetime, aggregates: dict[str, Any],
                 events: list[RecordedEvent], catalog: Catalog,
                 catalog_events: list[RecordedEvent]) -> ClientKnowledge:
    """One client's knowledge from folded aggregates (others' aggregates are ignored)."""
    return ClientKnowledge(
        known_at=known_at,
        client=aggregates[Client.stream_for(client_id)],  # type: ignore[arg-type]
        priority=aggregates[Subscription.stream_for(client_id)],  # type: ignore[arg-type]
        catalog=catalog,
        tickets={a.ticket_id: a for a in aggregates.values()
                 if isinstance(a, Ticket) and a.client_id == client_id},
        invoices={a.period: a for a in aggregates.values()
                  if isinstance(a, Invoice) and a.client_id == client_id},
        events=events,
        catalog_events=catalog_events,
    )


def replayed_knowledge(aggregates: dict[str, Any], recorded: list[RecordedEvent], client_id: str,
                       known_at: datetime) -> ClientKnowledge:
    """What `client_known_at` gives, built instead from a replay of the whole record
    (`fold(ledger.recorded_events(known_at=K))`): the baseline the fast paths must equal."""
    catalog_stream = Catalog.stream_for(Catalog.KEY)
    return knowledge_of(
        client_id, known_at, aggregates,
        [item for item in recorded if item.event.client_id == client_id],
        aggregates.get(catalog_stream) or Catalog.empty(),  # type: ignore[arg-type]
        [item for item in recorded if item.event.originator_id == catalog_stream],
    )
