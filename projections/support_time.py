"""The support calendar and SLA clocks as users read them (R-HRS-1..3, I-1)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ledger.aggregates import Ticket
from ledger.application import SupportLedger
from ledger.billing.bill import fold
from ledger.billing.load import catalog_known_at
from ledger.errors import InvalidCommandError, NotFoundError
from ledger.rules.calendar import SupportCalendar
from ledger.timeutil import in_moscow

MAX_DAYS = 366 * 20


def hours(ledger: SupportLedger, first: date, last: date, known_at: datetime) -> dict[str, Any]:
    """One entry per day, both dates included; overrides as known at `known_at`."""
    if last < first:
        raise InvalidCommandError(f"{last} is before {first}", field="TO_DATE")
    if (last - first).days > MAX_DAYS:
        raise InvalidCommandError(f"at most {MAX_DAYS} days at once", field="TO_DATE")
    calendar = catalog_known_at(ledger, known_at)[0].support_calendar()
    return {
        "days": [
            {
                "date": day.date.isoformat(),
                "open": day.open.strftime("%H:%M") if day.open else None,
                "close": day.close.strftime("%H:%M") if day.close else None,
                "reason": day.reason,
            }
            for day in calendar.days(first, last)
        ]
    }


def sla(ledger: SupportLedger, ticket_id: str, known_at: datetime) -> dict[str, Any]:
    """Minutes to first response and to resolution, counted in support hours only."""
    ticket = fold(ledger.recorded_events(stream=Ticket.stream_for(ticket_id), known_at=known_at)).get(
        Ticket.stream_for(ticket_id)
    )
    if ticket is None:
        raise NotFoundError(
            f"unknown ticket {ticket_id!r} (as known at {in_moscow(known_at).isoformat()})", field="ticket_id"
        )
    calendar = catalog_known_at(ledger, known_at)[0].support_calendar()
    return sla_of(ticket, calendar)  # type: ignore[arg-type]


def sla_of(ticket: Ticket, calendar: SupportCalendar) -> dict[str, Any]:
    def minutes_until(moment: datetime | None) -> int | None:
        return None if moment is None else calendar.support_minutes_between(ticket.opened_at, moment)

    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else in_moscow(moment).isoformat()

    return {
        "ticket_id": ticket.ticket_id,
        "opened_at": iso(ticket.opened_at),
        "first_response_at": iso(ticket.first_response_at),
        "resolved_at": iso(ticket.resolved_at),
        "minutes_to_first_response": minutes_until(ticket.first_response_at),
        "minutes_to_resolution": minutes_until(ticket.resolved_at),
    }
