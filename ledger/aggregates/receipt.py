"""Command receipts: the ledger's memory of which command_ids it has applied (CONTRACT.md)."""

from __future__ import annotations

from ledger.aggregates.base import LedgerAggregate
from ledger.events import CommandAccepted


class CommandReceipt(LedgerAggregate):
    """Saved in the same transaction as the command's own events, so a command is applied
    exactly once even when two writers race with the same command_id."""

    stream_prefix = "command"

    @classmethod
    def accept(cls, command_id: str, command: str, content_sha256: str) -> CommandReceipt:
        return cls._start(CommandAccepted, command_id, command=command, content_sha256=content_sha256)

    @LedgerAggregate.when.register
    def _(self, event: CommandAccepted) -> None:
        self.command = event.command
        self.content_sha256 = event.content_sha256
