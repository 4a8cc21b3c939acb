"""An in-memory unit of work: a command's handler run against aggregates held in a dict,
with no database (issue 17). Tests of the write side use it to check what a command records
or refuses without a store; a script can use it to try a command out.

What it cannot do is what needs the record itself: `IssueInvoice` computes the invoice from
what the store knew at its latest record time, so it needs a `SupportLedger`.
"""

from __future__ import annotations

import copy
from typing import Any

from commands.handlers import HANDLERS
from commands.models import COMMAND_ADAPTER, Command
from ledger.aggregates.base import LedgerAggregate
from ledger.application import A, AggregateAccess, SupportLedger
from ledger.context import recording
from ledger.errors import LedgerError
from ledger.events import LedgerEvent


class InMemoryAggregates(AggregateAccess):
    """Aggregates by stream, and the events each accepted command recorded."""

    def __init__(self) -> None:
        self.aggregates: dict[str, LedgerAggregate] = {}

    def find(self, cls: type[A], key: str) -> A | None:
        return self.aggregates.get(cls.stream_for(key))  # type: ignore[return-value]

    @property
    def store(self) -> SupportLedger:
        raise LedgerError("this command reads the record (an invoice is computed from it): "
                          "run it against a SupportLedger", field="command")

    def run(self, command: Command | dict[str, Any], actor: str = "tester") -> list[LedgerEvent]:
        """Validate and handle one command; its events, or the LedgerError that refuses it,
        in which case nothing changes (as the bus rolls a refused command back)."""
        if isinstance(command, dict):
            command = COMMAND_ADAPTER.validate_python(command)
        before = copy.deepcopy(self.aggregates)
        try:
            with recording(actor, command.command_id):
                touched = HANDLERS[type(command)](command, self)
        except LedgerError:
            self.aggregates = before
            raise
        events: list[LedgerEvent] = []
        for aggregate in touched:
            self.aggregates[aggregate.id] = aggregate
            events += aggregate.collect_events()
        return events
