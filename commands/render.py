"""Readable tables for the query commands (the JSON documents are the contract)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=False, width=None if Console().is_terminal else 160)


def moment(iso: str) -> str:
    """A compact Moscow-time reading of an ISO instant for tables."""
    return iso[:16].replace("T", " ")


def facts(payload: dict[str, Any]) -> str:
    return ", ".join(
        f"{key}={value}" for key, value in payload.items() if value is not None and key != "client_id"
    )


def history(document: dict[str, Any]) -> None:
    table = Table(title=f"History of {document['client_id']} as known at {document['known_at']} (Moscow time)")
    for column in ("event", "type", "valid at", "recorded at", "actor", "facts"):
        table.add_column(column, overflow="fold")
    for event in document["events"]:
        table.add_row(event["event_id"], event["type"], moment(event["valid_at"]),
                      moment(event["recorded_at"]), event["actor"], facts(event["payload"]))
    console.print(table)
    console.print(f"{len(document['events'])} events")
