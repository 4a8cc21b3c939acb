"""Readable tables for the query commands (the JSON documents are the contract)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


class QuietConsole(Console):
    """rich's console, ending like the JSON output when the reader stops early (`| head`):
    `commands.failures` meets the BrokenPipeError and exits 0 without a word (rich's own
    `on_broken_pipe` exits 1; overriding it is what rich's documentation suggests)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


console = QuietConsole(soft_wrap=False, width=None if Console().is_terminal else 160)


def moment(iso: str) -> str:
    """A compact Moscow-time reading of an ISO instant for tables."""
    return iso[:16].replace("T", " ")


def facts(payload: dict[str, Any]) -> str:
    return ", ".join(
        f"{key}={value}" for key, value in payload.items() if value is not None and key != "client_id"
    )


EVENT_COLUMNS = ("event", "type", "valid at", "recorded at", "actor", "recorded by", "facts")


def event_row(event: dict[str, Any]) -> tuple[str, ...]:
    """An event of `history` or `explain` as a table row: the declared actor beside the
    writer the store saw (`recorded_by`, which --actor cannot choose)."""
    return (event["event_id"], event["type"], moment(event["valid_at"]), moment(event["recorded_at"]),
            event["actor"], event["recorded_by"] or "—", facts(event["payload"]))


def history(document: dict[str, Any]) -> None:
    table = Table(title=f"History of {document['client_id']} as known at {document['known_at']} (Moscow time)")
    for column in EVENT_COLUMNS:
        table.add_column(column, overflow="fold")
    for event in document["events"]:
        table.add_row(*event_row(event))
    console.print(table)
    console.print(f"{len(document['events'])} events")


def entitlements(document: dict[str, Any]) -> None:
    priority = document["priority"]
    console.print(f"[bold]{document['client_id']}[/] at {document['at']} (as known at {document['known_at']})")
    state = "active (" + ", ".join(priority["sources"]) + ")" if priority["active"] else "not active"
    console.print(f"priority support: {state}; engineer: {priority['engineer'] or '—'}")
    if priority["mandatory"]:
        console.print("priority is mandatory: " + "; ".join(priority["mandatory_reasons"]))
    console.print(f"new versions included (R-PTP-4): {'yes' if document['new_versions_included'] else 'no'}")
    for product, versions in document["warranty_versions"].items():
        console.print(f"warranty (R-WTY-5) for {product}: {', '.join(versions) or 'no version released'}")
    table = Table("activity", "service")
    for activity, service in document["services"].items():
        table.add_row(activity, service)
    console.print(table)


def hours(document: dict[str, Any]) -> None:
    table = Table("date", "open", "close", "reason", title="Support hours, Moscow time (R-HRS-1..3, I-1)")
    for day in document["days"]:
        table.add_row(day["date"], day["open"] or "closed", day["close"] or "", day["reason"])
    console.print(table)


def sla(document: dict[str, Any]) -> None:
    table = Table("ticket", "opened", "first response", "minutes", "resolved", "minutes",
                  title="SLA in support minutes (R-HRS-1..3, I-1)")
    def cell(value: Any) -> str:
        return "—" if value is None else str(value)
    table.add_row(document["ticket_id"], moment(document["opened_at"]),
                  moment(document["first_response_at"] or "—"), cell(document["minutes_to_first_response"]),
                  moment(document["resolved_at"] or "—"), cell(document["minutes_to_resolution"]))
    console.print(table)


def invoice(document: dict[str, Any]) -> None:
    title = (f"Invoice {document['client_id']} {document['period']} — {document['status']}"
             + (f" {document['issued_at'][:10]}" if document["status"] == "issued" else "")
             + f" (as known at {moment(document['known_at'])})")
    table = Table("kind", "description", "quantity", "unit price", "amount", "rules", title=title)
    for line in document["lines"]:
        table.add_row(line["kind"], line["description"], line["quantity"], line["unit_price"],
                      line["amount"], " ".join(line["rules"]))
    table.add_row("", "[bold]total[/]", "", "", f"[bold]{document['total']}[/]", "")
    console.print(table)
    decisions(document.get("problems", []))


def decisions(problems: list[dict[str, Any]]) -> None:
    """The lines that need a decision (R-PTP-3), under the invoice or its explanation."""
    if not problems:
        return
    console.print(f"[yellow]{len(problems)} line(s) need a decision[/] (not charged):", highlight=False)
    for problem in problems:
        console.print(escape(f"  {problem['key']}: ticket {problem['ticket_id']}, {problem['date']}, "
                             f"{problem['minutes_worked']} min, entries {', '.join(problem['entry_ids'] or [])} "
                             f"({', '.join(problem['rules'])})"), highlight=False)


def register(document: dict[str, Any]) -> None:
    scope = " ".join(part for part in (document["client_id"], document["period"]) if part)
    table = Table("client", "period", "issued", "computed as known at", "total", "event",
                  title=f"Invoices issued{' — ' + scope if scope else ''} (as known at {moment(document['known_at'])})")
    for row in document["invoices"]:
        table.add_row(row["client_id"], row["period"], moment(row["issued_at"]),
                      moment(row["computed_as_known_at"]), row["total"], row["event_id"])
    table.add_row("", "", "", f"[bold]{document['count']} invoices[/]", f"[bold]{document['total']}[/]", "")
    console.print(table)


def _events_table(events: list[dict[str, Any]]) -> Table:
    table = Table(*EVENT_COLUMNS, box=None, padding=(0, 1))
    for event in events:
        table.add_row(*event_row(event))
    return table


def explanation(document: dict[str, Any]) -> None:
    console.rule(f"Invoice {document['client_id']} {document['period']} — {document['status']}, "
                 f"as known at {moment(document['known_at'])} (Moscow time)")
    for number, line in enumerate(document["lines"], start=1):
        marker = " [yellow](needs a decision)[/]" if line.get("needs_decision") else ""
        console.print(f"\n[bold]{number}. {line['description']}[/] — {line['amount']}{marker}")
        console.print(f"   {line['explanation']}")
        console.print(f"   rules: {', '.join(line['rules'])}")
        console.print(_events_table(line["events"]))
    console.print(f"\n[bold]total {document['total']}[/]")
    decisions(document.get("problems", []))


def difference(document: dict[str, Any]) -> None:
    console.rule(f"Invoice {document['client_id']} {document['period']}: known at "
                 f"{moment(document['from_known_at'])} → {moment(document['to_known_at'])}")
    console.print(f"total {document['total_before']} ({document['status_before']}) → "
                  f"{document['total_after']} ({document['status_after']})")
    for change in document["changes"]:
        line = change["after"] or change["before"]
        console.print(f"\n[bold]{change['change']}[/]: {line['description']} (amount change {change['amount_change']})")
        if change["before"] and change["after"]:
            console.print(f"   was: {change['before']['computation']}")
            console.print(f"   now: {change['after']['computation']}")
        console.print(_events_table(change["caused_by"]))
    console.print(f"\n{len(document['events_recorded_between'])} events recorded in between")


def head(document: dict[str, Any]) -> None:
    console.print(f"head: {document['hash']}")
    console.print(f"at log position {document['position']:,}, recorded at {document['recorded_at'] or '—'}; "
                  f"{document['events']:,} events in {document['commits']:,} commits")


def verdict(document: dict[str, Any]) -> None:
    head_ = document["head"]
    if document["ok"]:
        console.print(f"[green]verified[/]: {head_['events']:,} events in {head_['commits']:,} commits match "
                      f"their chain", highlight=False)
        if document["adopted_at"]:
            console.print(f"[yellow]note[/]: the links before log position {document['chain_starts_at']:,} were "
                          f"built on {document['adopted_at']} over a record written before the chain existed: "
                          "they vouch for it from then on, not from when it was written", highlight=False)
        console.print(f"head: {head_['hash']} at position {head_['position']:,}")
        return
    broken = document["broken"]
    console.print(f"[red]BROKEN[/]: {broken['problem']} at {broken['event_id'] or '—'} "
                  f"(commit at log position {broken['commit'] if broken['commit'] is not None else '—'})")
    if broken["detail"]:
        console.print(broken["detail"], highlight=False)
    console.print(f"expected hash: {broken['expected_hash'] or '—'}")
    console.print(f"found hash:    {broken['found_hash'] or '—'}")
