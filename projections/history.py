"""A client's history: every event that concerns the client, in record order (I-9)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.aggregates import Client
from ledger.application import RecordedEvent, SupportLedger
from ledger.billing.load import unknown_client
from ledger.timeutil import in_moscow


def event_document(recorded: RecordedEvent) -> dict[str, Any]:
    """One event as users read it: id, type, both times, who recorded it (the declared
    actor, and the writer the store saw), and its facts."""
    event = recorded.event
    return {
        "event_id": recorded.event_id,
        "type": recorded.type,
        "valid_at": in_moscow(event.valid_at).isoformat(),
        "recorded_at": in_moscow(recorded.recorded_at).isoformat(),
        "actor": event.actor,
        "recorded_by": recorded.recorded_by,
        "command_id": event.command_id,
        "payload": event.payload(),
    }


def client_history(ledger: SupportLedger, client_id: str, known_at: datetime) -> dict[str, Any]:
    """The client's events recorded at or before K. A client whose registration was not
    recorded by K is unknown at K: the same refusal as every other query (I-9)."""
    recorded = ledger.recorded_events(client_id=client_id, known_at=known_at)
    registration = Client.stream_for(client_id)
    if not any(item.event.originator_id == registration for item in recorded):
        raise unknown_client(client_id, known_at)
    return {
        "client_id": client_id,
        "known_at": in_moscow(known_at).isoformat(),
        "events": [event_document(r) for r in recorded],
    }
