"""Month-end run: issue every client's invoice for a period, and write exports for accounting.

    python scripts/month_end.py --period 2025-03 [--at 2025-04-01T09:00] [--csv lines.csv]
        [--csv-dialect csv|csv-excel-ru] [--xlsx invoices.xlsx] [--db URL]

Idempotent: a client whose invoice for the period is already issued is left as it is, so a
re-run issues only what is missing. Each invoice goes through the same command path as
`support-ledger apply` (an `IssueInvoice` command with command_id month-end:CLIENT:PERIOD).
The CSV lists every line of every client's invoice for the period as issued, and a row for
each issued invoice with no lines (zero totals included); `--csv-dialect csv-excel-ru` writes
it for a Russian-locale Excel instead of for machines. `--xlsx` also writes the workbook of
invoices and lines. Both are written from the same documents (`projections.exports` says
what each holds).

A mistake or a fault ends as in the CLI (`commands.failures`): one line on stderr naming the
option or the cause, exit status 1 (130 for Ctrl-C, 143 for SIGTERM), never a traceback. The
options and the output paths are checked before any invoice is issued; a run stopped halfway
says how many it had issued, and a re-run issues the rest.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.progress import track

from commands.bus import execute
from commands.failures import UserError, option_value, report_failures, writable_output
from commands.models import IssueInvoice
from ledger.application import DEFAULT_DB_URL, SupportLedger
from ledger.timeutil import in_moscow, parse_instant, period_bounds, start_of_day, utc_now
from projections.exports import CSV_DIALECTS, invoices_csv, invoices_xlsx
from projections.month_end import decisions_needed, invoices_for_period

console = Console(stderr=True)


def run(ledger: SupportLedger, period: str, at, actor: str) -> tuple[Counter, list[dict]]:
    """Issue what is missing; the outcomes by kind, and every client's document for the period."""
    _, following = period_bounds(period)
    outcomes: Counter = Counter()
    try:
        clients = ledger.client_ids()
        for client_id in track(clients, description=f"Issuing {period}", console=console, transient=True,
                               disable=not console.is_terminal):
            if ledger.client(client_id).registered_at >= start_of_day(following):
                outcomes["not yet a client"] += 1
                continue
            if ledger.invoice(client_id, period) is not None:
                outcomes["already issued"] += 1
            else:
                command = IssueInvoice(command="IssueInvoice", command_id=f"month-end:{client_id}:{period}",
                                       client_id=client_id, period=period, at=at)
                outcome = execute(ledger, command, actor)
                outcomes["issued" if outcome.status == "applied" else outcome.status] += 1
                if outcome.error:
                    console.print(f"{client_id}: {outcome.error}", style="red", markup=False, highlight=False,
                                  emoji=False)
        known_now = ledger.last_recorded_at() or in_moscow(utc_now())
        documents = invoices_for_period(ledger, period, known_now)
    except BaseException as stop:  # each invoice is issued whole or not at all (its own command)
        if outcomes["issued"]:
            stop.add_note(f"{outcomes['issued']} invoices of {period} were issued before it stopped; "
                          "a re-run issues the rest and writes the CSV")
        raise
    return outcomes, documents


def decisions_report(summaries: list[dict]) -> list[str]:
    """The section of the month-end output under the totals: per client, the lines that need a
    person's decision (R-PTP-3: work that lost the coverage it was logged under, shown but not
    charged), from `projections.month_end.decisions_needed`."""
    if not summaries:
        return []
    out = [f"needs a decision (R-PTP-3): {sum(s['lines'] for s in summaries)} lines, shown but not charged"]
    for summary in summaries:
        out.append(f"  {summary['client_id']} {summary['period']} ({summary['status']}): {summary['lines']} lines, "
                   f"{summary['minutes_worked']} min worked")
        out += [f"    {problem['description']}" for problem in summary["problems"]]
    return out


def write_after_issuing(option: str, path: Path, content: bytes) -> None:
    try:
        path.write_bytes(content)
    except OSError as error:  # the path was writable when checked; it no longer is, or the disk is full
        raise UserError(f"{option}: cannot write {path}: {error.strerror or error}; the invoices are issued: "
                        "a re-run writes the exports and issues nothing new") from None


def output_paths(args: argparse.Namespace) -> tuple[Path, Path | None]:
    """The CSV's path and the XLSX's (if asked for), both checked writable before anything is issued."""
    csv_path = writable_output("--csv", f"invoices-{args.period}.csv" if args.csv is None else args.csv)
    if args.xlsx is None:
        return csv_path, None
    xlsx_path = writable_output("--xlsx", args.xlsx)
    if xlsx_path.resolve() == csv_path.resolve():
        raise UserError(f"--xlsx: {args.xlsx} is the CSV's file too (--csv); give another")
    return csv_path, xlsx_path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--period", required=True, help="YYYY-MM")
    parser.add_argument("--at", help="issue time (default: now)")
    parser.add_argument("--csv", help="where to write the lines (default: invoices-PERIOD.csv)")
    parser.add_argument("--csv-dialect", choices=tuple(CSV_DIALECTS), default="csv",
                        help="csv: RFC 4180 for machines (the default); csv-excel-ru: UTF-8 with BOM, ';' and "
                             "',' decimals, for a Russian-locale Excel")
    parser.add_argument("--xlsx", help="where to write the workbook of invoices and lines (default: none)")
    parser.add_argument("--db", default=os.environ.get("SUPPORT_LEDGER_DB") or DEFAULT_DB_URL)
    parser.add_argument("--actor", default=os.environ.get("SUPPORT_LEDGER_ACTOR") or "month-end")
    return parser


def month_end(args: argparse.Namespace) -> int:
    option_value("--period", period_bounds, args.period)
    at = option_value("--at", parse_instant, args.at) if args.at is not None else in_moscow(utc_now())
    csv_path, xlsx_path = output_paths(args)
    with SupportLedger(args.db) as ledger:
        outcomes, documents = run(ledger, args.period, at, args.actor)
    issued = [d for d in documents if d["status"] == "issued"]
    write_after_issuing("--csv", csv_path, invoices_csv(issued, args.csv_dialect))
    written = [csv_path]
    if xlsx_path is not None:
        write_after_issuing("--xlsx", xlsx_path, invoices_xlsx(issued))
        written.append(xlsx_path)
    total = sum((Decimal(d["total"]) for d in issued), Decimal("0.00"))
    lines = sum(len(d["lines"]) for d in issued)
    summary = ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))
    print(f"{args.period}: {len(issued)} invoices ({summary}); total {total:.2f}; {lines} lines in "
          f"{' and '.join(map(str, written))}")
    for line in decisions_report(decisions_needed(documents)):
        print(line)
    return 1 if outcomes.get("rejected") else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return report_failures(lambda: month_end(args))


if __name__ == "__main__":
    sys.exit(main())
