"""The ledger's refusals: a short, named hierarchy.

Every refusal names what refused the command: a field of the command, or a rule ID of
docs/rules.md. The CLI prints `str(error)` on one line; nothing is recorded.
"""

from __future__ import annotations


class LedgerError(Exception):
    """A command the ledger refuses. `rule` is a docs/rules.md ID, `field` a command field."""

    def __init__(self, message: str, *, rule: str | None = None, field: str | None = None):
        self.message = message
        self.rule = rule
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.rule or self.field
        return f"{where}: {self.message}" if where else self.message


class InvalidCommandError(LedgerError):
    """The command is malformed: a missing, unknown or ill-typed field."""


class NotFoundError(LedgerError):
    """The command refers to a client, licence, ticket, entry … the ledger does not know."""


class AlreadyExistsError(LedgerError):
    """The command would create something that already exists under that id."""


class ConflictingStateError(LedgerError):
    """The command does not fit the current state (e.g. ending a pilot already ended)."""


class RuleViolationError(LedgerError):
    """The regulation refuses the command; `rule` names the clause."""

    def __init__(self, message: str, *, rule: str, field: str | None = None):
        super().__init__(message, rule=rule, field=field)


class DuplicateCommandIdError(LedgerError):
    """The same command_id was applied before with different content."""


class DamagedRecordError(Exception):
    """The store holds what the ledger cannot read: an event missing from its stream, a
    payload that does not decode, an unknown event type. Not a refusal of a command (the
    bus does not turn it into a `rejected` line): whatever met it stops, and the record
    needs `support-ledger verify`."""

    def __init__(self, event_id: str, problem: str):
        self.event_id = event_id
        self.problem = problem
        super().__init__(event_id, problem)

    def __str__(self) -> str:
        return f"the record is damaged at {self.event_id}: {self.problem}; run `support-ledger verify`"
