"""What the integrity tests share: raw access to a store as its owner (triggers removed, as
an attacker with full access would), and the store's rows read back as plain tuples."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg

from ledger.store.append_only import TRIGGER_ROWS, TRIGGER_TRUNCATE
from ledger.store.tables import CHAIN_TABLE, COMMITS_TABLE, MARKS_TABLE

DEMO = Path(__file__).resolve().parents[1] / "scripts" / "demo" / "commands.jsonl"
DEMO_COMMANDS = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines() if line.strip()]
SQLITE_EVENTS = "stored_events"
PG_EVENTS = "supportledger_events"
LEDGER_TABLES = (COMMITS_TABLE, MARKS_TABLE, CHAIN_TABLE)


def drop_triggers(sqlite: bool, tables: list[str]) -> list[str]:
    """The statements that remove the ledger's append-only triggers from these tables."""
    if sqlite:
        return [f"DROP TRIGGER IF EXISTS {table}_no_{operation}" for table in tables for operation in ("update", "delete")]
    return [f"DROP TRIGGER IF EXISTS {trigger} ON {table}" for table in tables for trigger in (TRIGGER_ROWS, TRIGGER_TRUNCATE)]


@dataclass
class Raw:
    """Plain SQL on a ledger store, as the database's owner. `q` quotes a table name."""

    url: str
    sqlite: bool
    connection: Any
    schema: str | None

    @property
    def events(self) -> str:
        return SQLITE_EVENTS if self.sqlite else PG_EVENTS

    @property
    def position(self) -> str:
        return "rowid" if self.sqlite else "notification_id"

    @property
    def param(self) -> str:
        return "?" if self.sqlite else "%s"

    @property
    def protected(self) -> tuple[str, ...]:
        return (self.events, *LEDGER_TABLES)

    def q(self, table: str) -> str:
        return table if self.sqlite else f'"{self.schema}"."{table}"'

    def run(self, statement: str, params: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        statement = statement.replace("?", self.param)
        cursor = self.connection.execute(statement, params)
        rows = cursor.fetchall() if cursor.description else []
        if self.sqlite:
            self.connection.commit()
        return rows

    def drop_triggers(self) -> None:
        """What an attacker with the owner's rights does first."""
        for statement in drop_triggers(self.sqlite, [self.q(table) for table in self.protected]):
            self.run(statement)

    def log(self) -> list[tuple[int, str, int, str, bytes]]:
        """(position, stream, version, topic, state) of every event, in log order."""
        return [(r[0], r[1], r[2], r[3], bytes(r[4])) for r in self.run(
            f"SELECT {self.position}, originator_id, originator_version, topic, state FROM {self.q(self.events)} "
            f"ORDER BY {self.position}")]

    def commits(self) -> list[tuple[int, Any]]:
        return [tuple(r) for r in self.run(f"SELECT notification_id, recorded_at FROM {self.q(COMMITS_TABLE)} "
                                           "ORDER BY notification_id")]

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every protected table's rows (events with their positions), to restore later."""
        found = {}
        for table in self.protected:
            columns = f"{self.position}, *" if table == self.events and self.sqlite else "*"
            found[table] = [tuple(r) for r in self.run(f"SELECT {columns} FROM {self.q(table)}")]
        return found

    def restore(self, snapshot: dict[str, list[tuple[Any, ...]]]) -> None:
        """Put back the rows of `snapshot` (opening the ledger may have put the triggers back)."""
        self.drop_triggers()
        for table, rows in snapshot.items():
            self.run(f"DELETE FROM {self.q(table)}")
            if not rows:
                continue
            columns = "(rowid, originator_id, originator_version, topic, state)" if table == self.events and self.sqlite else ""
            marks = ", ".join([self.param] * len(rows[0]))
            statement = f"INSERT INTO {self.q(table)} {columns} VALUES ({marks})"
            if self.sqlite:
                self.connection.executemany(statement, rows)
                self.connection.commit()
            else:
                with self.connection.cursor() as cursor:
                    cursor.executemany(statement, rows)


@contextmanager
def raw_store(url: str) -> Iterator[Raw]:
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url[len("sqlite:///"):])
        try:
            yield Raw(url, True, connection, None)
        finally:
            connection.close()
        return
    parts = urlparse(url)
    schema = parse_qs(parts.query)["schema"][0]
    with psycopg.connect(url.split("?")[0], autocommit=True) as connection:
        yield Raw(url, False, connection, schema)
