"""What the ledger knew of a client at record time K, folded from events.

An aggregate's `when` handlers are already a fold (state, event) -> state, so the read side
replays the events recorded up to K through the same aggregates instead of re-implementing
their state. The rules (`ledger.rules`) then answer for any valid time T from that state.
A bill reads only what its period needs (`ledger.billing.load`); entitlements read here the
client's whole history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.aggregates import Catalog, Client
from ledger.application import RecordedEvent, SupportLedger
from ledger.billing.bill import ClientKnowledge, fold, knowledge_of
from ledger.billing.load import catalog_known_at, unknown_client

__all__ = ["ClientKnowledge", "catalog_known_at", "client_known_at", "fold", "replayed_knowledge", "unknown_client"]


def client_known_at(ledger: SupportLedger, client_id: str, known_at: datetime) -> ClientKnowledge:
    """Everything the ledger knew about one client at K (its whole history)."""
    with ledger.reading():
        recorded = ledger.recorded_events(client_id=client_id, known_at=known_at)
        catalog, catalog_events = catalog_known_at(ledger, known_at)
    aggregates = fold(recorded)
    if Client.stream_for(client_id) not in aggregates:
        raise unknown_client(client_id, known_at)
    return knowledge_of(client_id, known_at, aggregates, recorded, catalog, catalog_events)


def replayed_knowledge(aggregates: dict[str, Any], recorded: list[RecordedEvent], client_id: str,
                       known_at: datetime) -> ClientKnowledge:
    """What the loader gives, built instead from a replay of the whole record
    (`fold(ledger.recorded_events(known_at=K))`): the baseline the loader must equal
    (tests/test_scale_equivalence.py, the benchmark's P3). No query uses it."""
    catalog_stream = Catalog.stream_for(Catalog.KEY)
    return knowledge_of(
        client_id, known_at, aggregates,
        [item for item in recorded if item.event.client_id == client_id],
        aggregates.get(catalog_stream) or Catalog.empty(),  # type: ignore[arg-type]
        [item for item in recorded if item.event.originator_id == catalog_stream],
    )
