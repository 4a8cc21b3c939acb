"""The Python API for back-office scripts: open a ledger, apply commands, ask it questions.

One entry point, `Ledger`, over what the `support-ledger` CLI runs: commands go through the
same bus (`commands.bus`: the same validation, idempotency by `command_id` and refusals),
and every query returns the same document as the CLI's `--json`, from the same projection.

    from commands.api import Ledger

    with Ledger.open("sqlite:///backoffice.db", actor="finance-script") as ledger:
        outcomes = ledger.apply([
            {"command": "RegisterClient", "client_id": "acme", "name": "ООО «Акме»", "at": "2025-01-09T15:00"},
            {"command": "PublishPriceList", "command_id": "price-2025", "effective_from": "2025-01-01",
             "norm_hour": "3000.00", "priority_month": "15000.00"},
        ])
        for outcome in outcomes:
            print(outcome.status, outcome.command_id, outcome.error)
        print(ledger.invoice("acme", "2025-03")["total"])

A command is a plain dict (as a line of a command file, decoded), a pydantic model from
`commands.models` (`LogTime(command="LogTime", ...)`), or one line of a command file as text.
`apply` never raises for a command the ledger refuses: the `Outcome` says `rejected`, with
the error naming the field or the rule (R-…, I-…, docs/rules.md), as `support-ledger apply`
prints it. It raises only for misuse: something that is not a command, or a ledger opened
read-only. Times: an aware `datetime` means what it says, a naive one (or a string without
an offset) is Moscow time; `known_at=None` means now (I-9). Money in documents is a decimal
string ("9000.00"); `decimal.Decimal(document["total"])` reads it exactly.

A query's bad argument (a period that is not YYYY-MM, a client the ledger does not know)
raises a `ledger.errors.LedgerError` naming it; a script that runs its work under
`commands.failures.report_failures` ends on such errors as the CLI does, with one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, Union, overload

from commands.bus import (
    Outcome,
    apply_lines,
    apply_parsed,
    is_blank,
    numbered_lines,
    parse_command,
    parse_line,
)
from commands.cli import actor as cli_actor
from commands.cli import DOCUMENT_FORMATS, EXPORT_FORMATS, LANGUAGES, open_ledger
from commands.models import Command, day_value, instant_value, period_value
from ledger.application import ReadOnlyLedgerError, SupportLedger
from ledger.errors import InvalidCommandError, LedgerError
from ledger.text import printable
from ledger.timeutil import utc_now

__all__ = ["Ledger", "Outcome", "Command", "CommandLike"]

CommandLike = Union[Command, dict[str, Any], str]
"""A command: a model of `commands.models`, a dict as a command-file line decodes, or such a line."""
Instant = Union[datetime, str]
"""An instant: a datetime (naive: Moscow time) or an ISO 8601 string (without offset: Moscow time)."""


class Ledger:
    """A support ledger opened for a script: `apply` commands, query documents, `close`."""

    def __init__(self, store: SupportLedger, actor: str, closer: ExitStack | None = None):
        """Prefer `Ledger.open`; this wraps a `SupportLedger` the caller opened and closes."""
        self.store = store
        self.actor = actor
        self._closer = closer or ExitStack()

    @classmethod
    def open(cls, url: str | None = None, *, actor: str | None = None, read_only: bool = False) -> Ledger:
        """The ledger at `url`, as the CLI opens `--db` and names `--actor`.

        `url`: `sqlite:///PATH` or `postgresql://USER@HOST:PORT/DBNAME[?schema=NAME]`; default
        $SUPPORT_LEDGER_DB, else sqlite:///support-ledger.db. `actor`: who records (kept with
        every event); default $SUPPORT_LEDGER_ACTOR, else the OS user. For writing (the
        default) the store is created where missing; `read_only` opens an existing store for
        queries only. A store that cannot be opened raises `UserError` ("--db: cannot open …").
        """
        closer = ExitStack()
        given = SimpleNamespace(db=url, actor=actor)  # what the CLI's --db and --actor would hold
        store = closer.enter_context(open_ledger(given, read_only=read_only))  # type: ignore[arg-type]
        return cls(store, cli_actor(given), closer)  # type: ignore[arg-type]

    def close(self) -> None:
        self._closer.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        from ledger.store.urls import redact

        return f"Ledger({redact(self.store.url)!r}, actor={self.actor!r}, read_only={self.store.read_only})"

    # --- commands ---------------------------------------------------------------------------

    @overload
    def apply(self, commands: CommandLike) -> Outcome: ...
    @overload
    def apply(self, commands: Iterable[CommandLike]) -> list[Outcome]: ...

    def apply(self, commands: CommandLike | Iterable[CommandLike]) -> Outcome | list[Outcome]:
        """Apply one command (→ its `Outcome`) or many, in order (→ one `Outcome` each).

        Each command is atomic; many are saved up to `commands.bus.BATCH_SIZE` per
        transaction, as `support-ledger apply` saves a file. A command_id applied before with
        the same content is a `duplicate` and records nothing; with other content, or any
        refusal, the outcome is `rejected` with its error. Raises TypeError for something
        that is not a command, ReadOnlyLedgerError on a ledger opened read-only.
        """
        if isinstance(commands, (Command, dict, str)):
            return self._apply_parsed([_parsed(commands)])[0]
        if not isinstance(commands, Iterable):
            raise TypeError(f"apply takes a command or an iterable of commands, not {type(commands).__name__}")
        return self._apply_parsed([_parsed(command) for command in commands])

    def apply_file(self, path: str | Path) -> list[Outcome]:
        """Apply a JSON Lines command file, as `support-ledger apply FILE` (blank lines give no outcome)."""
        self._check_writable()
        with open(path, "rb") as stream:
            texts = [text for _, text in numbered_lines(stream) if not is_blank(text)]
        return list(apply_lines(self.store, texts, self.actor))

    def _apply_parsed(self, items: list[Command | Outcome]) -> list[Outcome]:
        self._check_writable()
        return list(apply_parsed(self.store, items, self.actor))

    def _check_writable(self) -> None:
        if self.store.read_only:
            raise ReadOnlyLedgerError

    # --- queries: the CLI's --json documents --------------------------------------------------

    def entitlements(self, client_id: str, at: Instant, known_at: Instant | None = None) -> dict[str, Any]:
        """What the client is entitled to at valid time `at` (`support-ledger entitlements`)."""
        from projections.entitlements import entitlements

        return entitlements(self.store, _client(client_id), _instant(at, "at"), _known(known_at))

    def invoice(self, client_id: str, period: str, known_at: Instant | None = None) -> dict[str, Any]:
        """The invoice for `period` (YYYY-MM): the draft, or exactly as issued (`support-ledger invoice`)."""
        from projections.invoice import invoice

        return invoice(self.store, _client(client_id), _period(period), _known(known_at))

    def explain(self, client_id: str, period: str, known_at: Instant | None = None) -> dict[str, Any]:
        """Every line of the invoice with its computation, events and rules (`support-ledger explain`)."""
        from projections.explain import explain

        return explain(self.store, _client(client_id), _period(period), _known(known_at))

    def diff(self, client_id: str, period: str, from_known_at: Instant,
             to_known_at: Instant | None = None) -> dict[str, Any]:
        """How the invoice changed between two record times, and the events that changed it
        (`support-ledger diff`; `to_known_at=None`: now)."""
        from projections.explain import diff

        return diff(self.store, _client(client_id), _period(period), _instant(from_known_at, "from_known_at"),
                    _known(to_known_at, "to_known_at"))

    def history(self, client_id: str, known_at: Instant | None = None) -> dict[str, Any]:
        """The client's events in record order (`support-ledger history`)."""
        from projections.history import client_history

        return client_history(self.store, _client(client_id), _known(known_at))

    def hours(self, from_date: date | str, to_date: date | str, known_at: Instant | None = None) -> dict[str, Any]:
        """The support calendar, both dates included (`support-ledger hours`)."""
        from projections.support_time import hours

        return hours(self.store, _date(from_date, "from_date"), _date(to_date, "to_date"), _known(known_at))

    def sla(self, ticket_id: str, known_at: Instant | None = None) -> dict[str, Any]:
        """A ticket's SLA clocks in support minutes (`support-ledger sla`)."""
        from projections.support_time import sla

        return sla(self.store, _identifier(ticket_id, "ticket_id"), _known(known_at))

    def register(self, period: str | None = None, client_id: str | None = None,
                 known_at: Instant | None = None) -> dict[str, Any]:
        """The invoices issued, with their count and sum (`support-ledger register`)."""
        from projections.register import register_document

        return register_document(self.store, _known(known_at), period=None if period is None else _period(period),
                                 client_id=None if client_id is None else _client(client_id))

    def head(self) -> dict[str, Any]:
        """The hash chain's head, for an auditor to keep (`support-ledger head`)."""
        return self.store.head().document()

    def verify(self, expect: str | None = None) -> dict[str, Any]:
        """Re-hash the whole record against its chain (`support-ledger verify`); `ok` is false
        when the record was changed (the CLI's exit status 3)."""
        return self.store.verify(expect).document()

    # --- documents for clients and finance (bytes, as the CLI writes them) --------------------

    def invoice_document(self, client_id: str, period: str, *, fmt: str = "html", lang: str = "en",
                         known_at: Instant | None = None) -> bytes:
        """The invoice as a document for the client: `fmt` html or pdf, `lang` en or ru."""
        from projections.documents import render_invoice

        return render_invoice(self.store, _client(client_id), _period(period), _known(known_at),
                              fmt=_choice(fmt, DOCUMENT_FORMATS, "fmt"), lang=_choice(lang, LANGUAGES, "lang"))

    def explanation_document(self, client_id: str, period: str, *, fmt: str = "html", lang: str = "en",
                             known_at: Instant | None = None) -> bytes:
        """The explanation dispute staff send a client: `fmt` html or pdf, `lang` en or ru."""
        from projections.documents import render_explanation

        return render_explanation(self.store, _client(client_id), _period(period), _known(known_at),
                                  fmt=_choice(fmt, DOCUMENT_FORMATS, "fmt"), lang=_choice(lang, LANGUAGES, "lang"))

    def register_export(self, fmt: str = "xlsx", *, period: str | None = None, client_id: str | None = None,
                        known_at: Instant | None = None) -> bytes:
        """The register for finance: `fmt` xlsx, csv or csv-excel-ru (`support-ledger register --format`)."""
        from projections.exports import register_export

        return register_export(self.store, _known(known_at), period=None if period is None else _period(period),
                               client_id=None if client_id is None else _client(client_id),
                               fmt=_choice(fmt, EXPORT_FORMATS, "fmt"))  # type: ignore[arg-type]


# --- arguments, checked as the CLI checks its own ------------------------------------------------


def _parsed(command: Any) -> Command | Outcome:
    """A command for the bus, or the rejection naming what is wrong with it (as `apply` reports)."""
    if isinstance(command, Command):
        return command
    if isinstance(command, str):
        return parse_line(command)
    if isinstance(command, dict):
        try:
            return parse_command(command)
        except LedgerError as error:
            command_id = command.get("command_id")
            return Outcome("rejected", command_id if isinstance(command_id, str) else None, str(error))
    raise TypeError(f"a command is a dict, a commands.models model or a JSON line, not {type(command).__name__}")


T = TypeVar("T")


def _field(name: str, read: Callable[[Any], T], value: Any) -> T:
    """`read(value)`, a ValueError refused as a bad value of the argument `name`."""
    try:
        return read(value)
    except ValueError as error:
        raise InvalidCommandError(str(error), field=name) from None


def _instant(value: Instant, name: str) -> datetime:
    return _field(name, instant_value, value)


def _known(value: Instant | None, name: str = "known_at") -> datetime:
    return utc_now() if value is None else _instant(value, name)


def _date(value: date | str, name: str) -> date:
    return _field(name, day_value, value)


def _period(value: str) -> str:
    return _field("period", period_value, value)


def _identifier(value: str, name: str) -> str:
    def identifier(text: Any) -> str:
        if not isinstance(text, str) or not text:
            raise ValueError(f"{text!r} is not an id: a non-empty string")
        return printable(text)
    return _field(name, identifier, value)


def _choice(value: str, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise InvalidCommandError(f"{value!r} is not one of {', '.join(choices)}", field=name)
    return value


def _client(value: str) -> str:
    return _identifier(value, "client_id")

