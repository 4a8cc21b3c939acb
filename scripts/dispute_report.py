"""Dispute report: one client and period, in Markdown, for a person who never saw the code.

    python scripts/dispute_report.py CLIENT_ID --period 2025-03 [--out report.md] [--db URL]

Sections: the invoice as issued (if it was), the period as known now, the differences with
the events recorded after the issue that caused them, every line explained, and the event
timeline of the client and of the catalog facts the lines cite.

A mistake or a fault ends as in the CLI (`commands.failures`): one line on stderr naming the
option or the cause, exit status 1 (130 for Ctrl-C), never a traceback; `--out` is checked
before the store is opened.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from commands.failures import UserError, option_value, report_failures, writable_output
from ledger.application import DEFAULT_DB_URL, SupportLedger
from ledger.billing.bill import money, period_lines
from ledger.billing.load import client_for_period
from ledger.timeutil import in_moscow, period_bounds, utc_now
from projections.history import event_document
from projections.invoice import invoice_of


def _cell(value: Any) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out


def _lines_table(lines: list[dict[str, Any]]) -> list[str]:
    rows = [[l["kind"], l["description"], l["quantity"], l["unit_price"], l["amount"], ", ".join(l["rules"])]
            for l in lines]
    return _table(["kind", "description", "quantity", "unit price", "amount", "rules"], rows)


def _events_table(events: list[dict[str, Any]]) -> list[str]:
    rows = [[e["event_id"], e["type"], e["valid_at"], e["recorded_at"], e["actor"], e["recorded_by"] or "—",
             ", ".join(f"{k}={v}" for k, v in e["payload"].items() if v is not None and k != "client_id")]
            for e in events]
    return _table(["event", "type", "valid time", "recorded", "actor", "recorded by", "facts"], rows)


def report(ledger: SupportLedger, client_id: str, period: str) -> str:
    now = in_moscow(utc_now())
    knowledge = client_for_period(ledger, client_id, period, now)
    documents = {e.event_id: event_document(e) for e in
                 sorted([*knowledge.events, *knowledge.catalog_events], key=lambda e: e.notification_id)}
    current = period_lines(knowledge, period)
    current_total = current.total
    current_lines = [line.document() for line in current.lines]
    issued = knowledge.invoices.get(period)
    out = [f"# Dispute report: {knowledge.client.name} ({client_id}), {period}", "",
           f"Generated {now.isoformat()} (Moscow time). Rule IDs refer to docs/rules.md, with the clause of the regulation each comes from.", ""]

    out += ["## The invoice as issued", ""]
    if issued is None:
        out += ["Not issued yet. Its current draft:", "", *_lines_table(invoice_of(knowledge, period)["lines"]), ""]
    else:
        out += [f"Issued {in_moscow(issued.issued_at).isoformat()}, computed from what the ledger knew at "
                f"{in_moscow(issued.known_at).isoformat()}. Total **{money(issued.total)}**.", "",
                *_lines_table(issued.lines), ""]

    out += ["## The period as known now", "",
            f"What the period's own lines are with everything recorded up to now. Total **{money(current_total)}**.",
            "", *_lines_table(current_lines), ""]

    if issued is not None:
        out += ["## Differences since the invoice was issued", ""]
        was = {l["key"]: l for l in issued.lines if l["kind"] != "adjustment"}
        now_lines = {l["key"]: l for l in current_lines}
        changed = [k for k in sorted(set(was) | set(now_lines))
                   if (was.get(k) or {}).get("amount") != (now_lines.get(k) or {}).get("amount")]
        if not changed:
            out += ["None: every line is as issued.", ""]
        for key in changed:
            before, after = was.get(key), now_lines.get(key)
            line = after or before
            out += [f"### {line['description']}", "",
                    f"- issued: {before['computation'] if before else 'no such line'}",
                    f"- now: {after['computation'] if after else 'no such line'}",
                    "- billed as adjustment lines on the earliest later period not yet issued (I-9).", "",
                    "Events recorded after the issue that changed it:", ""]
            causes = [documents[e.event_id] for e in current.bearing.get(key, []) if e.recorded_at > issued.known_at]
            out += [*_events_table(causes), ""]

    out += ["## Every line explained", ""]
    for number, line in enumerate(current_lines, start=1):
        out += [f"### {number}. {line['description']} — {line['amount']}", "", line["computation"], "",
                f"Rules: {', '.join(line['rules'])}.", "",
                *_events_table([documents[i] for i in line["events"] if i in documents]), ""]

    out += ["## Event timeline", "", "Every event the period's bill reads (the client's own, its invoices and its tickets "
            "with work in the period), and the catalog facts the lines cite, in the order the ledger recorded them.", ""]
    cited = {i for line in current.lines for i in line.events}
    timeline = [d for i, d in documents.items() if d["payload"].get("client_id") == client_id or i in cited]
    out += _events_table(timeline)
    return "\n".join(out) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("client_id")
    parser.add_argument("--period", required=True, help="YYYY-MM")
    parser.add_argument("--out", help="write the Markdown here (default: standard output)")
    parser.add_argument("--db", default=os.environ.get("SUPPORT_LEDGER_DB") or DEFAULT_DB_URL)
    return parser


def dispute_report(args: argparse.Namespace) -> int:
    option_value("--period", period_bounds, args.period)
    out = None if args.out is None else writable_output("--out", args.out)
    with SupportLedger(args.db, read_only=True) as ledger:
        text = report(ledger, args.client_id, args.period)
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:  # writable when checked; no longer, or the disk is full
        raise UserError(f"--out: cannot write {out}: {error.strerror or error}") from None
    print(f"wrote {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return report_failures(lambda: dispute_report(args))


if __name__ == "__main__":
    sys.exit(main())
