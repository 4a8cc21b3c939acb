"""Why an invoice says what it says, and why it changed (I-9): for disputes.

`explain` gives every line with its computation in words and numbers, its rules, and the
events behind it (id, type, valid time, record time, actor). `diff` compares the invoice as
known at two record times and names the events recorded in between that changed each line.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ledger.application import SupportLedger
from ledger.billing.bill import ClientKnowledge, bill, money, period_lines
from ledger.billing.load import client_for_period
from ledger.errors import InvalidCommandError, NotFoundError
from ledger.timeutil import in_moscow
from projections.history import event_document
from projections.invoice import invoice_of


def explain(ledger: SupportLedger, client_id: str, period: str, known_at: datetime) -> dict[str, Any]:
    return explain_of(client_for_period(ledger, client_id, period, known_at), period)


def explain_of(knowledge: ClientKnowledge, period: str) -> dict[str, Any]:
    """The invoice document with each line's explanation and its events in full."""
    document = invoice_of(knowledge, period)
    events = event_documents(knowledge)
    return {
        **document,
        "lines": [
            {**line, "explanation": line["computation"],
             "events": [events[event_id] for event_id in line["events"] if event_id in events]}
            for line in document["lines"]
        ],
    }


def diff(ledger: SupportLedger, client_id: str, period: str, before: datetime, after: datetime) -> dict[str, Any]:
    if after < before:
        raise InvalidCommandError("must not be earlier than --from-known-at", field="--to-known-at")
    knowledge = client_for_period(ledger, client_id, period, after)
    try:
        old = invoice_of(client_for_period(ledger, client_id, period, before), period)
    except NotFoundError:  # not yet known then: everything known now is new
        old = {"status": "draft", "lines": [], "total": "0.00"}
    drafted = None if period in knowledge.invoices else bill(knowledge, period)  # computed once
    new = invoice_of(knowledge, period, drafted)
    bearing = (drafted or period_lines(knowledge, period)).bearing  # also names what removed a line
    events = event_documents(knowledge)
    between = {event_id: doc for event_id, doc in events.items() if _recorded_between(doc, before, after)}
    old_lines = {line["key"]: line for line in old["lines"]}
    new_lines = {line["key"]: line for line in new["lines"]}
    changes = []
    for key in sorted(set(old_lines) | set(new_lines)):
        was, now = old_lines.get(key), new_lines.get(key)
        if was is not None and now is not None and _same(was, now):
            continue
        cited = (set((was or {}).get("events", [])) | set((now or {}).get("events", []))
                 | {e.event_id for e in bearing.get(key, [])})
        changes.append({
            "key": key,
            "change": "added" if was is None else "removed" if now is None else "changed",
            "before": was,
            "after": now,
            "amount_change": money(_amount(now) - _amount(was)),
            "caused_by": [doc for event_id, doc in between.items() if event_id in cited],
        })
    return {
        "client_id": client_id,
        "period": period,
        "from_known_at": in_moscow(before).isoformat(),
        "to_known_at": in_moscow(after).isoformat(),
        "status_before": old["status"],
        "status_after": new["status"],
        "total_before": old["total"],
        "total_after": new["total"],
        "changes": changes,
        "events_recorded_between": list(between.values()),
    }


def event_documents(knowledge: ClientKnowledge) -> dict[str, dict[str, Any]]:
    """Every event the knowledge holds, the client's and the catalog's, in record order, by id."""
    recorded = sorted([*knowledge.events, *knowledge.catalog_events], key=lambda e: e.notification_id)
    return {item.event_id: event_document(item) for item in recorded}


def _recorded_between(document: dict[str, Any], before: datetime, after: datetime) -> bool:
    recorded = datetime.fromisoformat(document["recorded_at"])
    return before < recorded <= after


def _same(was: dict[str, Any], now: dict[str, Any]) -> bool:
    fields = ("amount", "quantity", "unit_price", "minutes_worked", "minutes_billed", "pending", "needs_decision")
    return all(was.get(name) == now.get(name) for name in fields)


def _amount(line: dict[str, Any] | None) -> Decimal:
    return Decimal(line["amount"]) if line else Decimal("0.00")
