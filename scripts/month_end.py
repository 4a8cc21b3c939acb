"""Month-end run: issue every client's invoice for a period, and write a CSV for accounting.

    python scripts/month_end.py --period 2025-03 [--at 2025-04-01T09:00] [--csv lines.csv] [--db URL]

Idempotent: a client whose invoice for the period is already issued is left as it is, so a
re-run issues only what is missing. Each invoice goes through the same command path as
`support-ledger apply` (an `IssueInvoice` command with command_id month-end:CLIENT:PERIOD).
The CSV lists every line of every client's invoice for the period as issued.
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
from commands.models import IssueInvoice
from ledger.application import DEFAULT_DB_URL, SupportLedger
from ledger.timeutil import in_moscow, parse_instant, period_bounds, start_of_day, utc_now
from projections.month_end import invoices_for_period

CSV_COLUMNS = ("client_id", "period", "status", "issued_at", "key", "kind", "description", "quantity",
               "unit_price", "amount", "ticket_id", "date", "minutes_worked", "minutes_billed",
               "adjusts_period", "rules", "events")
console = Console(stderr=True)


def run(ledger: SupportLedger, period: str, at, actor: str) -> tuple[Counter, list[dict]]:
    _, following = period_bounds(period)
    outcomes: Counter = Counter()
    documents = []
    for client_id in track(ledger.client_ids(), description=f"Issuing {period}", console=console):
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
                console.print(f"[red]{client_id}: {outcome.error}[/]")
    known_now = ledger.last_recorded_at() or in_moscow(utc_now())
    documents = [d for d in invoices_for_period(ledger, period, known_now) if d["status"] == "issued"]
    return outcomes, documents


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--period", required=True, help="YYYY-MM")
    parser.add_argument("--at", help="issue time (default: now)")
    parser.add_argument("--csv", type=Path, help="where to write the lines (default: invoices-PERIOD.csv)")
    parser.add_argument("--db", default=os.environ.get("SUPPORT_LEDGER_DB", DEFAULT_DB_URL))
    parser.add_argument("--actor", default=os.environ.get("SUPPORT_LEDGER_ACTOR", "month-end"))
    args = parser.parse_args(argv)
    try:
        period_bounds(args.period)
        at = parse_instant(args.at) if args.at else in_moscow(utc_now())
    except ValueError as error:
        parser.error(str(error))
    with SupportLedger(args.db) as ledger:
        outcomes, documents = run(ledger, args.period, at, args.actor)
    path = args.csv or Path(f"invoices-{args.period}.csv")
    rows = write_csv(path, documents)
    total = sum((Decimal(d["total"]) for d in documents), Decimal("0.00"))
    summary = ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))
    print(f"{args.period}: {len(documents)} invoices ({summary}); total {total:.2f}; {rows} lines in {path}")
    return 1 if outcomes.get("rejected") else 0


if __name__ == "__main__":
    sys.exit(main())
