"""The `support-ledger` command line: parse, call one handler or query, print.

Every subcommand takes `--db URL` (else SUPPORT_LEDGER_DB, else sqlite:///support-ledger.db)
and `--actor NAME` (else SUPPORT_LEDGER_ACTOR, else the OS user). A user's mistake ends in
one line on stderr naming the field or rule, and exit status 1 — never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import getpass
import io
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from commands.failures import INTERRUPTED, UserError, first_line, report_failures, writable_output
from ledger.errors import InvalidCommandError, LedgerError
from ledger.store.append_only import DEFAULT_AUDITOR, DEFAULT_WRITER
from ledger.store.urls import DEFAULT_DB_URL
from ledger.text import printable
from ledger.timeutil import parse_date, parse_instant, parse_period, utc_now

if TYPE_CHECKING:
    from pathlib import Path

    from ledger.application import SupportLedger

# Each subcommand imports what it needs when it runs (issue 17: `--help` and a query start
# without the command models, the handlers, the PostgreSQL driver or the table renderer).


BROKEN_RECORD = 3  # exit status of `verify` when the record does not match its chain (CONTRACT.md)


ONE_SHOT_FIRST_GENERATION = 50_000  # allocations between young collections in the CLI's process


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; whatever goes wrong ends as `commands.failures` says: one line on
    stderr and an exit status, never a traceback."""
    # No pydantic plugins in the CLI's process, unless asked for (README, "Start-up: figures"):
    # looking them up (`importlib.metadata`) cost one command a twentieth of its start-up.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # A one-shot process: start-up makes some 100,000 objects that live until it exits, and the
    # collector's default re-scans them every 700 allocations (1.5% of one command's instructions).
    # `ledger.bulk.bulk_collection` sets its own thresholds for a long apply.
    gc.set_threshold(ONE_SHOT_FIRST_GENERATION, *gc.get_threshold()[1:])

    def run() -> int:
        args = build_parser().parse_args(argv)
        return args.run(args)
    return report_failures(run)


# --- the parser ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help="database URL (sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME)")
    common.add_argument("--actor", default=argparse.SUPPRESS, help="who is recording (default: $SUPPORT_LEDGER_ACTOR or the OS user)")
    parser = argparse.ArgumentParser(
        prog="support-ledger",
        description="Event-sourced billing and entitlement ledger for technical-support contracts.",
        parents=[common],
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")

    apply = sub.add_parser("apply", parents=[common], help="apply a JSON Lines command file ('-' for stdin)")
    apply.add_argument("file")
    apply.add_argument("--workers", type=_workers_argument, default=None,
                       help="processes that apply a long file, each for its share of the clients "
                            "(default: one per core, up to 4; 1: only this one)")
    apply.set_defaults(run=run_apply)

    schema = sub.add_parser("schema", parents=[common], help="print the JSON Schema of a command line")
    schema.set_defaults(run=run_schema)

    history = sub.add_parser("history", parents=[common], help="a client's events in record order")
    history.add_argument("client_id", type=_identifier("CLIENT_ID"))
    _add_query_options(history)
    history.set_defaults(run=run_history)

    entitlements = sub.add_parser("entitlements", parents=[common], help="what a client is entitled to at an instant")
    entitlements.add_argument("client_id", type=_identifier("CLIENT_ID"))
    entitlements.add_argument("--at", type=_instant_argument("--at"), required=True, help="the valid time T")
    _add_query_options(entitlements)
    entitlements.set_defaults(run=run_entitlements)

    hours = sub.add_parser("hours", parents=[common], help="the support calendar, both dates included")
    hours.add_argument("from_date", type=_date_argument("FROM_DATE"))
    hours.add_argument("to_date", type=_date_argument("TO_DATE"))
    _add_query_options(hours)
    hours.set_defaults(run=run_hours)

    invoice_parser = sub.add_parser("invoice", parents=[common], help="a client's invoice for a period")
    invoice_parser.add_argument("client_id", type=_identifier("CLIENT_ID"))
    invoice_parser.add_argument("--period", required=True, help="YYYY-MM")
    _add_query_options(invoice_parser)
    _add_document_options(invoice_parser)
    invoice_parser.set_defaults(run=run_invoice)

    explain_parser = sub.add_parser("explain", parents=[common], help="every invoice line with its events and rules")
    explain_parser.add_argument("client_id", type=_identifier("CLIENT_ID"))
    explain_parser.add_argument("--period", required=True, help="YYYY-MM")
    _add_query_options(explain_parser)
    _add_document_options(explain_parser)
    explain_parser.set_defaults(run=run_explain)

    diff_parser = sub.add_parser("diff", parents=[common], help="how an invoice changed between two knowledge times")
    diff_parser.add_argument("client_id", type=_identifier("CLIENT_ID"))
    diff_parser.add_argument("--period", required=True, help="YYYY-MM")
    diff_parser.add_argument("--from-known-at", type=_instant_argument("--from-known-at"), required=True)
    diff_parser.add_argument("--to-known-at", type=_instant_argument("--to-known-at"), default=None,
                             help="default: now")
    diff_parser.add_argument("--json", action="store_true", help="print one JSON document")
    diff_parser.set_defaults(run=run_diff)

    register = sub.add_parser("register", parents=[common], help="the invoices issued, with their totals (I-9)")
    register.add_argument("--period", default=None, help="YYYY-MM (default: every period)")
    register.add_argument("--client", dest="client_id", default=None, type=_identifier("--client"), help="one client's invoices only")
    _add_query_options(register)
    register.add_argument("--format", choices=EXPORT_FORMATS, default=None,
                          help="write a file for finance instead: xlsx (a sheet of invoices, a sheet of lines), "
                               "csv (RFC 4180, UTF-8, '.' decimals) or csv-excel-ru (UTF-8 with BOM, ';' "
                               "separators, ',' decimals: opens as is in a Russian-locale Excel)")
    register.add_argument("--out", default=None, metavar="FILE", help="where to write the --format file (required)")
    register.set_defaults(run=run_register)

    sla = sub.add_parser("sla", parents=[common], help="a ticket's SLA clocks in support minutes")
    sla.add_argument("ticket_id", type=_identifier("TICKET_ID"))
    _add_query_options(sla)
    sla.set_defaults(run=run_sla)

    head = sub.add_parser("head", parents=[common], help="the hash chain's head, for an auditor to keep")
    head.add_argument("--json", action="store_true", help="print one JSON document")
    head.set_defaults(run=run_head)

    verify = sub.add_parser("verify", parents=[common],
                            help="re-hash the whole record against its chain (exit 3 when broken)")
    verify.add_argument("--expect", default=None, metavar="HASH",
                        help="a head printed by `head` earlier: it must still be a link of the chain")
    verify.add_argument("--json", action="store_true", help="print one JSON document")
    verify.set_defaults(run=run_verify)

    roles = sub.add_parser("roles", parents=[common],
                           help="PostgreSQL: the SQL creating a writer role and a read-only auditor role")
    roles.add_argument("--writer", default=DEFAULT_WRITER, help=f"the writer role's name (default {DEFAULT_WRITER})")
    roles.add_argument("--auditor", default=DEFAULT_AUDITOR, help=f"the auditor role's name (default {DEFAULT_AUDITOR})")
    roles.add_argument("--apply", action="store_true", help="run the SQL (as the owner of the tables) after printing it")
    roles.set_defaults(run=run_roles)
    return parser


T = TypeVar("T")


class _Version(argparse.Action):
    """`--version`: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("support-ledger")
        except PackageNotFoundError:  # run from a checkout that is not installed
            found = "(not installed)"
        print(f"support-ledger {found}")
        parser.exit()


def _add_query_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--known-at", type=_instant_argument("--known-at"), default=None,
                        help="answer from what was recorded at or before this instant (default: now)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def _argument(name: str, parse: Callable[[str], T], shown: Callable[[str], str] = lambda _: "") -> Callable[[str], T]:
    """An argparse type: `parse`, its ValueError shown as argparse shows a bad argument
    (after `shown(text)`), under `name`."""
    def checked(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{shown(text)}{error}") from None
    checked.__name__ = name
    return checked


def _instant_argument(option: str) -> Callable[[str], datetime]:
    return _argument(option, parse_instant)


def _date_argument(name: str) -> Callable[[str], date]:
    return _argument(name, parse_date)


def _identifier(name: str) -> Callable[[str], str]:
    """A client or ticket id as a command names it: printable (a byte that is not UTF-8
    arrives as a lone surrogate, which no store can hold)."""
    return _argument(name, printable, lambda text: f"{ascii(text)} ")


# --- running ------------------------------------------------------------------------------------


def database_url(args: argparse.Namespace) -> str:
    return getattr(args, "db", None) or os.environ.get("SUPPORT_LEDGER_DB") or DEFAULT_DB_URL


def actor(args: argparse.Namespace) -> str:
    return getattr(args, "actor", None) or os.environ.get("SUPPORT_LEDGER_ACTOR") or getpass.getuser()


@contextmanager
def open_ledger(args: argparse.Namespace, *, read_only: bool = False) -> Iterator[SupportLedger]:
    """The ledger at --db: for writing (created where missing), or `read_only` for a query,
    which never creates or writes a store (a missing one is "no ledger at PATH")."""
    from ledger.application import SupportLedger

    url = database_url(args)
    try:
        ledger = SupportLedger(url, read_only=read_only)
    except LedgerError:
        raise
    except Exception as error:  # the store could not be opened: say which and why, never a password
        from ledger.store.urls import redact

        store = redact(url)
        raise UserError(f"--db: cannot open {store}: {first_line(error).replace(url, store)}") from None
    try:
        yield ledger
    finally:
        ledger.close()


def run_apply(args: argparse.Namespace) -> int:
    from commands.bus import PARALLEL_AFTER, apply_lines, is_blank, numbered_lines

    who = actor(args)
    counts = dict.fromkeys(("applied", "duplicate", "rejected"), 0)
    last = 0  # the number of the last line reported
    with _open_input(args.file) as stream, open_ledger(args) as ledger:
        numbered = [(number, text) for number, text in numbered_lines(stream) if not is_blank(text)]
        texts = (text for _, text in numbered)
        with _Interrupts() as interrupts, _progress(args.file, len(numbered)) as advance:
            if len(numbered) > PARALLEL_AFTER and args.workers != 1:  # long enough for workers to pay
                from commands.parallel import apply_with_workers, default_workers

                workers = default_workers() if args.workers is None else args.workers
                outcomes = apply_with_workers(ledger, texts, who, workers=workers, stop=interrupts.received)
            else:
                outcomes = apply_lines(ledger, texts, who, stop=interrupts.received)
            for (last, _), outcome in zip(numbered, outcomes):
                counts[outcome.status] += 1
                print(json.dumps({"line": last, "command_id": outcome.command_id,
                                  "status": outcome.status, "error": outcome.error},
                                 ensure_ascii=False))
                advance()
    sys.stdout.flush()  # the outcomes, then the summary after them
    summary = (f"applied {counts['applied']}, duplicate {counts['duplicate']}, rejected {counts['rejected']} "
               f"(of {len(numbered)} lines)")
    if interrupts.signal is not None:
        rest = "" if last == (numbered[-1][0] if numbered else 0) else f"; the lines after {last} were not"
        print(f"interrupted ({interrupts.signal.name}): {summary}; each line reported above was applied or refused"
              f"{rest} — apply the file again to finish it (a line with a command_id applied before is a duplicate)",
              file=sys.stderr)
        return INTERRUPTED + interrupts.signal
    print(summary, file=sys.stderr)
    return 1 if counts["rejected"] else 0


PROGRESS_AFTER = 2_000  # commands in a file before `apply` shows its progress (fewer take about half a second)


@contextmanager
def _progress(name: str, total: int) -> Iterator[Callable[[], None]]:
    """Lines done of `total` and lines a second, on stderr, while a long file is applied and a
    person watches stderr (a terminal) with the outcomes going to a file or a pipe: on the
    same terminal the outcomes scrolling past are the progress, and would tear a bar. Yields
    the call that counts one line done; rich is imported only when a bar is shown."""
    if total <= PROGRESS_AFTER or not sys.stderr.isatty() or sys.stdout.isatty():
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn

    class Rate(ProgressColumn):
        """Lines a second since the start, and the time left at that rate. (rich's own speed
        reads its last 1,000 samples: outcomes come a batch at a time, so they span one batch.)"""

        def render(self, task: Any) -> str:
            rate = task.completed / task.elapsed if task.elapsed and task.completed else 0.0
            left = round((task.total - task.completed) / rate) if rate else None
            return f"{rate:,.0f} lines/s" + ("" if left is None else f", {left // 60}:{left % 60:02} left")

    columns = (TextColumn("applying {task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(), Rate())
    with Progress(*columns, console=Console(stderr=True), transient=True,
                  redirect_stdout=False, redirect_stderr=False) as progress:  # stdout is the outcomes only
        task = progress.add_task("standard input" if name == "-" else os.path.basename(name), total=total)
        yield lambda: progress.advance(task)


class _Interrupts:
    """Ctrl-C (SIGINT) and SIGTERM while `apply` runs: noted, not raised, so that the lines
    read so far are applied and reported before it stops (`apply_with_workers`' `stop`). A second
    Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None
        self._before: dict[int, Any] = {}

    def received(self) -> bool:
        return self.signal is not None

    def _note(self, number: int, _frame: object) -> None:
        if self.signal is not None and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signal.Signals(number)

    def __enter__(self) -> _Interrupts:
        for number in (signal.SIGINT, signal.SIGTERM):
            self._before[number] = signal.signal(number, self._note)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._before.items():
            signal.signal(number, handler)


@contextmanager
def _open_input(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        binary = getattr(sys.stdin, "buffer", None)  # none when stdin was replaced by a text stream
        yield binary if binary is not None else io.BytesIO(sys.stdin.read().encode("utf-8", "surrogateescape"))
        return
    try:
        handle = open(path, "rb")
    except OSError as error:
        raise UserError(f"file: cannot read {path}: {error.strerror}") from None
    with handle:
        yield handle


def run_schema(args: argparse.Namespace) -> int:
    from commands.models import command_schema

    print(json.dumps(command_schema(), indent=2, ensure_ascii=False))
    return 0


def run_history(args: argparse.Namespace) -> int:
    from projections.history import client_history

    with open_ledger(args, read_only=True) as ledger:
        document = client_history(ledger, args.client_id, known_at(args))
    return _print(args, document, "history")


def run_entitlements(args: argparse.Namespace) -> int:
    from projections.entitlements import entitlements

    with open_ledger(args, read_only=True) as ledger:
        document = entitlements(ledger, args.client_id, args.at, known_at(args))
    return _print(args, document, "entitlements")


def run_hours(args: argparse.Namespace) -> int:
    from projections.support_time import hours

    with open_ledger(args, read_only=True) as ledger:
        document = hours(ledger, args.from_date, args.to_date, known_at(args))
    return _print(args, document, "hours")


def run_invoice(args: argparse.Namespace) -> int:
    period = _period_argument(args.period)
    out = _document_output(args)
    if args.format is not None:
        from projections.documents import render_invoice

        with open_ledger(args, read_only=True) as ledger:
            content = render_invoice(ledger, args.client_id, period, known_at(args), fmt=args.format, lang=args.lang)
        return _write(content, out)
    from projections.invoice import invoice

    with open_ledger(args, read_only=True) as ledger:
        document = invoice(ledger, args.client_id, period, known_at(args))
    return _print(args, document, "invoice")


def run_explain(args: argparse.Namespace) -> int:
    period = _period_argument(args.period)
    out = _document_output(args)
    if args.format is not None:
        from projections.documents import render_explanation

        with open_ledger(args, read_only=True) as ledger:
            content = render_explanation(ledger, args.client_id, period, known_at(args), fmt=args.format,
                                         lang=args.lang)
        return _write(content, out)
    from projections.explain import explain

    with open_ledger(args, read_only=True) as ledger:
        document = explain(ledger, args.client_id, period, known_at(args))
    return _print(args, document, "explanation")


DOCUMENT_FORMATS = ("html", "pdf")
LANGUAGES = ("en", "ru")
EXPORT_FORMATS = ("xlsx", "csv", "csv-excel-ru")


def _add_document_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=DOCUMENT_FORMATS, default=None,
                        help="a document for the client instead of the table: html, or pdf (needs --out)")
    parser.add_argument("--lang", choices=LANGUAGES, default=None, help="the document's language (default en)")
    parser.add_argument("--out", default=None, metavar="FILE", help="where to write the document (default for "
                                                                     "html: standard output)")


def _document_output(args: argparse.Namespace) -> Path | None:
    """Where `--format`'s document goes, checked before anything is read: a file (`--out`),
    or standard output (None) for html. `--lang` and `--out` only go with `--format`."""
    if args.format is None:
        for option, value in (("--lang", args.lang), ("--out", args.out)):
            if value is not None:
                raise InvalidCommandError("goes with --format html or --format pdf", field=option)
        return None
    _one_output(args)
    args.lang = args.lang or "en"
    if args.out is None:
        if args.format == "pdf":
            raise InvalidCommandError("a PDF is written to a file: give --out FILE", field="--out")
        return None
    return writable_output("--out", args.out)


def _one_output(args: argparse.Namespace) -> None:
    if args.json:
        raise InvalidCommandError("--json and --format are two outputs: give one", field="--format")


def _write(content: bytes, out: Path | None) -> int:
    """A rendered document or export, to its file or (html) to standard output."""
    if out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
    else:
        try:
            out.write_bytes(content)
        except OSError as error:  # writable when checked; now full, or gone
            raise UserError(f"--out: cannot write {out}: {error.strerror or error}") from None
    return 0


def run_diff(args: argparse.Namespace) -> int:
    from projections.explain import diff

    period = _period_argument(args.period)
    with open_ledger(args, read_only=True) as ledger:
        document = diff(ledger, args.client_id, period, args.from_known_at, args.to_known_at or utc_now())
    return _print(args, document, "difference")


def run_register(args: argparse.Namespace) -> int:
    period = None if args.period is None else _period_argument(args.period)
    if args.format is not None or args.out is not None:
        from projections.exports import register_export

        if args.format is None or args.out is None:
            missing = "--out FILE" if args.out is None else "--format " + "|".join(EXPORT_FORMATS)
            raise InvalidCommandError(f"an export needs {missing}", field="--out" if args.out is None else "--format")
        _one_output(args)
        out = writable_output("--out", args.out)
        with open_ledger(args, read_only=True) as ledger:
            content = register_export(ledger, known_at(args), period=period, client_id=args.client_id, fmt=args.format)
        return _write(content, out)
    from projections.register import register_document

    with open_ledger(args, read_only=True) as ledger:
        document = register_document(ledger, known_at(args), period=period, client_id=args.client_id)
    return _print(args, document, "register")


def _workers_argument(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if not 1 <= workers <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes from 1 to 64")
    return workers


def _period_argument(text: str) -> str:
    try:
        parse_period(text)
    except ValueError as error:
        raise InvalidCommandError(str(error), field="--period") from None
    return text


def run_sla(args: argparse.Namespace) -> int:
    from projections.support_time import sla

    with open_ledger(args, read_only=True) as ledger:
        document = sla(ledger, args.ticket_id, known_at(args))
    return _print(args, document, "sla")


def run_head(args: argparse.Namespace) -> int:
    with open_ledger(args, read_only=True) as ledger:
        document = ledger.head().document()
    return _print(args, document, "head")


HASH = re.compile(r"[0-9a-f]{64}")


def run_verify(args: argparse.Namespace) -> int:
    expect = None if args.expect is None else args.expect.strip().lower()
    if expect is not None and not HASH.fullmatch(expect):
        raise UserError(f"--expect: {args.expect!r} is not a head's hash (64 hexadecimal digits, as `head` prints)")
    with open_ledger(args, read_only=True) as ledger:
        verdict = ledger.verify(expect)
    _print(args, verdict.document(), "verdict")
    return 0 if verdict.ok else BROKEN_RECORD


ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def run_roles(args: argparse.Namespace) -> int:
    from projections.register import REGISTER_TABLE, TRACKING_TABLE, RegisterView

    if not database_url(args).startswith(("postgresql://", "postgres://")):
        raise UserError("--db: roles are for a PostgreSQL store (SQLite has no roles)")
    for option, name in (("--writer", args.writer), ("--auditor", args.auditor)):
        if not ROLE_NAME.fullmatch(name):
            raise UserError(f"{option}: {name!r} is not a role name (letters, digits and _, up to 63)")
    if args.writer.lower() == args.auditor.lower():
        raise UserError("--auditor: must differ from --writer (the auditor only reads)")
    with open_ledger(args) as ledger:
        RegisterView(ledger).create_table()  # the writer maintains it, so it must exist first
        sql = ledger.recorder.roles_sql(args.writer, args.auditor, [REGISTER_TABLE, TRACKING_TABLE])  # type: ignore[attr-defined]
        print(sql, end="")
        if args.apply:
            with ledger.index.transaction(commit=True) as cursor:
                cursor.execute(sql)
            print(f"-- applied: {args.writer} (SELECT, INSERT) and {args.auditor} (SELECT) exist", file=sys.stderr)
    return 0


def known_at(args: argparse.Namespace) -> datetime:
    return args.known_at or utc_now()


def _print(args: argparse.Namespace, document: dict[str, Any], table: str) -> int:
    """The document as JSON (`--json`), or as the table `commands.render.<table>` prints."""
    if args.json:
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        from commands import render

        getattr(render, table)(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
