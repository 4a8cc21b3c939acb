"""The command bus: validate, hand to the one handler, save atomically with the receipt.

Idempotency (CONTRACT.md): a command_id applied before with the same content is a
`duplicate` and records nothing; with other content it is refused. The receipt is saved in
the same transaction as the command's events, so two racing writers cannot both apply it.
An optimistic-concurrency conflict is retried from the start, never lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from commands.handlers import HANDLERS
from commands.models import COMMAND_ADAPTER, COMMAND_NAMES, Command
from ledger.aggregates import CommandReceipt
from ledger.application import ConcurrentWriteError, SupportLedger
from ledger.context import recording
from ledger.errors import DuplicateCommandIdError, InvalidCommandError, LedgerError

MAX_ATTEMPTS = 8

Status = Literal["applied", "duplicate", "rejected"]


@dataclass(frozen=True)
class Outcome:
    status: Status
    command_id: str | None = None
    error: str | None = None


def parse_command(data: Any) -> Command:
    """A command from decoded JSON, or InvalidCommandError naming every bad field."""
    if not isinstance(data, dict):
        raise InvalidCommandError("a command is a JSON object")
    name = data.get("command")
    if name not in COMMAND_NAMES:
        raise InvalidCommandError(
            f"unknown command {name!r}; expected one of {', '.join(COMMAND_NAMES)}"
            if name is not None else "missing",
            field="command",
        )
    try:
        return COMMAND_ADAPTER.validate_python(data)
    except ValidationError as error:
        raise InvalidCommandError(describe_validation_error(error)) from None


def describe_validation_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"][1:]) or "command"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(f"{field}: {message}")
    return "; ".join(problems)


def execute(ledger: SupportLedger, command: Command, actor: str) -> Outcome:
    """Apply one validated command; LedgerError is returned as a rejection, never raised."""
    try:
        return _execute(ledger, command, actor)
    except LedgerError as error:
        return Outcome("rejected", command.command_id, str(error))


def _execute(ledger: SupportLedger, command: Command, actor: str) -> Outcome:
    handler = HANDLERS[type(command)]
    content = command.content_sha256()
    for _attempt in range(MAX_ATTEMPTS):
        if command.command_id is not None:
            receipt = ledger.receipt(command.command_id)
            if receipt is not None:
                return _repeat(command, receipt, content)
        with recording(actor, command.command_id):
            touched = handler(command, ledger)
            if command.command_id is not None:
                touched.append(CommandReceipt.accept(command.command_id, command.command, content))
        try:
            ledger.save_atomically(*touched)
        except ConcurrentWriteError:
            continue  # someone else wrote first: read again and decide again
        return Outcome("applied", command.command_id)
    raise LedgerError(f"gave up after {MAX_ATTEMPTS} concurrent-write conflicts; retry the command")


def _repeat(command: Command, receipt: CommandReceipt, content: str) -> Outcome:
    if receipt.content_sha256 == content and receipt.command == command.command:
        return Outcome("duplicate", command.command_id)
    raise DuplicateCommandIdError(
        f"command_id {command.command_id!r} was already used for a different command",
        field="command_id",
    )


def apply_line(ledger: SupportLedger, text: str, actor: str) -> Outcome:
    """One line of a command file: decode, validate, execute."""
    command_id = None
    try:
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("command_id"), str):
            command_id = data["command_id"]
        command = parse_command(data)
    except json.JSONDecodeError as error:
        return Outcome("rejected", None, f"line is not valid JSON: {error.msg} at column {error.colno}")
    except LedgerError as error:
        return Outcome("rejected", command_id, str(error))
    return execute(ledger, command, actor)
