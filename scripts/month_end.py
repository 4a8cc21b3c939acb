"""Month-end run: issue every client's invoice for a period, and write a CSV for accounting.

    python scripts/month_end.py --period 2025-03 [--at 2025-04-01T09:00] [--csv lines.csv] [--db URL]

Idempotent: a client whose invoice for the period is already issued is left as it is, so a
re-run issues only what is missing. Each invoice goes through the same command path as
`support-ledger apply` (an `IssueInvoice` command with command_id month-end:CLIENT:PERIOD).
The CSV lists every line of every client's invoice for the period as issued.

A mistake or a fault ends as in the CLI (`commands.failures`): one line on stderr naming the
option or the cause, exit status 1 (130 for Ctrl-C, 143 for SIGTERM), never a traceback. The
options and the CSV's path are checked before any invoice is issued; a run stopped halfway
says how many it had issued, and a re-run issues the rest.
"""

from __future__ import annotations

import argparse
import csv
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
from projections.month_end import decisions_needed, invoices_for_period

CSV_COLUMNS = ("client_id", "period", "status", "issued_at", "key", "kind", "description", "quantity",
               "unit_price", "amount", "ticket_id", "date", "minutes_worked", "minutes_billed",
               "adjusts_period", "rules", "events")
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


def write_csv(path: Path, documents: list[dict]) -> int:
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for document in documents:
            for line in document["lines"]:
                writer.writerow({**line, "client_id": document["client_id"], "period": document["period"],
                                 "status": document["status"], "issued_at": document.get("issued_at"),
                                 "rules": " ".join(line["rules"]), "events": " ".join(line["events"])})
                rows += 1
    return rows


def write_csv_after_issuing(path: Path, documents: list[dict]) -> int:
    try:
        return write_csv(path, documents)
    except OSError as error:  # the path was writable when checked; it no longer is, or the disk is full
        raise UserError(f"--csv: cannot write {path}: {error.strerror or error}; the invoices are issued: "
                        "a re-run writes the CSV and issues nothing new") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--period", required=True, help="YYYY-MM")
    parser.add_argument("--at", help="issue time (default: now)")
    parser.add_argument("--csv", help="where to write the lines (default: invoices-PERIOD.csv)")
    parser.add_argument("--db", default=os.environ.get("SUPPORT_LEDGER_DB") or DEFAULT_DB_URL)
    parser.add_argument("--actor", default=os.environ.get("SUPPORT_LEDGER_ACTOR") or "month-end")
    return parser


def month_end(args: argparse.Namespace) -> int:
    option_value("--period", period_bounds, args.period)
    at = option_value("--at", parse_instant, args.at) if args.at is not None else in_moscow(utc_now())
    path = writable_output("--csv", f"invoices-{args.period}.csv" if args.csv is None else args.csv)
    with SupportLedger(args.db) as ledger:
        outcomes, documents = run(ledger, args.period, at, args.actor)
    issued = [d for d in documents if d["status"] == "issued"]
    rows = write_csv_after_issuing(path, issued)
    total = sum((Decimal(d["total"]) for d in issued), Decimal("0.00"))
    summary = ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))
    print(f"{args.period}: {len(issued)} invoices ({summary}); total {total:.2f}; {rows} lines in {path}")
    for line in decisions_report(decisions_needed(documents)):
        print(line)
    return 1 if outcomes.get("rejected") else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return report_failures(lambda: month_end(args))


if __name__ == "__main__":
    sys.exit(main())
