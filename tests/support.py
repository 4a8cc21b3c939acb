"""Helpers the tests share: apply command dicts through the real bus, read events back."""

from __future__ import annotations

import json
from typing import Any

from commands.bus import Outcome, apply_line
from ledger.application import SupportLedger

ACTOR = "tester"

# CONTRACT.md's command table, written out here on purpose: the tests check the code
# against the contract, not against the code's own list.
CONTRACT_COMMANDS = {
    "ReleaseVersion", "PublishPriceList", "OverrideCalendarDay", "RegisterClient", "IssueLicense",
    "HandOverLicenseKey", "StartImplementation", "FinishImplementation",
    "RegisterPersonalConfiguration", "StartPilot", "EndPilot", "AssignEngineer",
    "SubscribePriority", "CancelPriority", "OpenTicket", "ClassifyTicket", "ConfirmBug",
    "RejectBug", "LogTime", "CorrectTime", "VoidTime", "RespondToTicket", "ResolveTicket",
    "ReopenTicket", "IssueInvoice",
}


def apply(ledger: SupportLedger, *commands: dict[str, Any], actor: str = ACTOR) -> list[Outcome]:
    """Apply each command as a command-file line would be applied."""
    return [apply_line(ledger, json.dumps(command), actor) for command in commands]


def applied(ledger: SupportLedger, *commands: dict[str, Any]) -> None:
    """Apply commands that must all succeed (scenario set-up)."""
    for command, outcome in zip(commands, apply(ledger, *commands), strict=True):
        assert outcome.status == "applied", (command, outcome.error)


def event_count(ledger: SupportLedger) -> int:
    return len(ledger.recorded_events())


def event_types(ledger: SupportLedger, client_id: str | None = None) -> list[str]:
    return [r.type for r in ledger.recorded_events(client_id=client_id)]
