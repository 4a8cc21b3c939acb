"""How each store spells the ledger's statements: `SQLiteDialect` and `PostgresDialect`.

One class per store, so that no query switches on which store it runs on: table names,
placeholders, the events table's position column, lists of values, column types, how
record times and money are kept, and the few statements that differ (whether a table is
there, taking the write lock, taking turns creating tables, inserting marks).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from ledger.store.chain import utc_text
from ledger.store.columns import read_text
from ledger.store.tables import CREATE_TABLES_LOCK

SQLITE_CHUNK = 500  # values one SQLite statement may list (it limits a statement's parameters)
sqlite_time = utc_text  # fixed-width UTC text: text order is time order in SQLite


def from_sqlite_time(text: str) -> datetime:
    """A record time as SQLite keeps it (`sqlite_time`)."""
    return datetime.fromisoformat(text)  # Python 3.11 reads the trailing Z as UTC


@dataclass(frozen=True)
class Dialect:
    """How one store spells the index's queries: its tables, as statements name them, and
    what each store spells its own way. What both spell alike is here."""

    events: str
    commits: str
    marks: str
    chain: str
    param: ClassVar[str]  # "?" or "%s"
    position: ClassVar[str]  # the events table's notification id column
    chunk: ClassVar[int]  # how many ids one statement may list
    integer_type: ClassVar[str]  # column types
    text_type: ClassVar[str]
    time_type: ClassVar[str]
    money_type: ClassVar[str]
    snapshot_statement: ClassVar[str | None]  # makes a read transaction see one state of the store

    def in_chunks(self, values: Sequence[str]) -> Iterator[Sequence[str]]:
        """`values` in slices short enough for one statement to list (`chunk`)."""
        for start in range(0, len(values), self.chunk):
            yield values[start : start + self.chunk]

    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        raise NotImplementedError

    def starts_with(self, column: str, prefix: str) -> tuple[str, list[Any]]:
        """The column's value begins with `prefix`."""
        raise NotImplementedError

    def in_query(self, column: str, subquery: str) -> str:
        raise NotImplementedError

    def time(self, instant: datetime) -> Any:
        """A record time as the store keeps it."""
        raise NotImplementedError

    def from_time(self, value: Any) -> datetime:
        raise NotImplementedError

    def money(self, amount: Decimal) -> Any:
        """An amount of money as the store keeps it, exactly."""
        raise NotImplementedError

    def as_written(self) -> str:
        """Whether an events row holds the types the ledger writes (a tampered one may not)."""
        raise NotImplementedError

    def time_text(self, value: Any) -> str:
        """A stored record time as the chain hashes it."""
        raise NotImplementedError

    def has_table(self, table: str) -> tuple[str, list[Any]]:
        """A statement whose one row's `n` is 1 if the table (named as statements name it) is there, else 0."""
        raise NotImplementedError

    def lock_for_writing(self) -> str:
        """A statement that takes the store's write lock, as writers do, until the transaction ends."""
        raise NotImplementedError

    def take_turns_creating_tables(self, cursor: Any) -> bool:
        """Wait, until the transaction ends, for any other process creating tables in this
        store; whether that process may have created them meanwhile (look again)."""
        raise NotImplementedError

    def insert_marks(self, cursor: Any, marks: list[tuple[str, str, str, int]]) -> None:
        """Add (stream, mark, client, position) rows to the marks table, keeping any already there."""
        raise NotImplementedError

    def position_at(self) -> str:
        """N(K) for a K parameter: the last notification id recorded at or before K (0: none).
        One index probe, since record times increase with notification ids."""
        return (f"COALESCE((SELECT notification_id FROM {self.commits} WHERE recorded_at <= {self.param} "
                "ORDER BY recorded_at DESC LIMIT 1), 0)")

    def recorded_at(self, alias: str) -> str:
        """The record time of event `alias`: that of the commit that holds it."""
        return (f"(SELECT c.recorded_at FROM {self.commits} c WHERE c.notification_id >= {alias}.{self.position} "
                "ORDER BY c.notification_id LIMIT 1)")

    def recorded_by(self, alias: str) -> str:
        """Who recorded event `alias`, as its commit's link says (CONTRACT.md `recorded_by`)."""
        return (f"(SELECT l.recorded_by FROM {self.chain} l WHERE l.notification_id >= {alias}.{self.position} "
                "ORDER BY l.notification_id LIMIT 1)")


class SQLiteDialect(Dialect):
    param, position, chunk = "?", "rowid", SQLITE_CHUNK
    integer_type, text_type, time_type, money_type = "INTEGER", "TEXT", "TEXT", "TEXT"
    snapshot_statement = None  # SQLite's read transaction is a snapshot already

    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        if not values:
            return "0=1", []
        return f"{column} IN ({','.join(self.param * len(values))})", list(values)

    def starts_with(self, column: str, prefix: str) -> tuple[str, list[Any]]:
        """SQLite is given the range of strings that begin with `prefix`, in its BINARY order
        (the code points'), which its index can search; its LIKE with a parameter recompiles
        the statement on every run."""
        following = ord(prefix[-1]) + 1 if prefix else 0
        if not 0 < following <= 0x10FFFF or 0xD800 <= following <= 0xDFFF:  # no next character to bound by
            return f"substr({column}, 1, {len(prefix)}) = {self.param}", [prefix]
        after = prefix[:-1] + chr(following)  # the first string past those with the prefix
        return f"{column} >= {self.param} AND {column} < {self.param}", [prefix, after]

    def in_query(self, column: str, subquery: str) -> str:
        return f"{column} IN ({subquery})"

    def time(self, instant: datetime) -> Any:
        return sqlite_time(instant)

    def from_time(self, value: Any) -> datetime:
        return from_sqlite_time(value)

    def money(self, amount: Decimal) -> Any:
        return str(amount)  # SQLite has no exact decimal type: its text

    def as_written(self) -> str:
        """SQLite keeps any type in any column: the types themselves are checked."""
        return ("(typeof(originator_id) = 'text' AND typeof(originator_version) = 'integer' "
                "AND typeof(topic) = 'text' AND typeof(state) = 'blob')")

    def time_text(self, value: Any) -> str:
        return read_text(value)  # SQLite's text exactly as stored

    def has_table(self, table: str) -> tuple[str, list[Any]]:
        return "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?", [table]

    def lock_for_writing(self) -> str:
        return f"DELETE FROM {self.commits} WHERE 0"  # a write: takes SQLite's write lock

    def take_turns_creating_tables(self, cursor: Any) -> bool:
        return False  # the first CREATE takes SQLite's write lock, and each creates only what is missing

    def insert_marks(self, cursor: Any, marks: list[tuple[str, str, str, int]]) -> None:
        cursor.executemany(f"INSERT OR IGNORE INTO {self.marks} VALUES (?,?,?,?)", marks)


class PostgresDialect(Dialect):
    param, position, chunk = "%s", "notification_id", 1 << 62  # an array has no limit
    integer_type, text_type, time_type, money_type = "bigint", "text", "timestamptz", "numeric"
    snapshot_statement = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"

    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY({self.param})", [list(values)]

    def starts_with(self, column: str, prefix: str) -> tuple[str, list[Any]]:
        return f"starts_with({column}, {self.param})", [prefix]

    def in_query(self, column: str, subquery: str) -> str:
        return f"{column} = ANY(ARRAY({subquery}))"

    def time(self, instant: datetime) -> Any:
        return instant

    def from_time(self, value: Any) -> datetime:
        return value  # type: ignore[no-any-return]

    def money(self, amount: Decimal) -> Any:
        return amount

    def as_written(self) -> str:
        """PostgreSQL's columns hold their types; only NULLs where none was written."""
        return "(topic IS NOT NULL AND state IS NOT NULL)"

    def time_text(self, value: Any) -> str:
        return utc_text(value)

    def has_table(self, table: str) -> tuple[str, list[Any]]:
        return "SELECT COUNT(to_regclass(%s)) AS n", [table]

    def lock_for_writing(self) -> str:
        return f"LOCK TABLE {self.events} IN EXCLUSIVE MODE"

    def take_turns_creating_tables(self, cursor: Any) -> bool:
        # Two processes creating tables at once would race, e.g. on CREATE OR REPLACE
        # FUNCTION ("tuple concurrently updated"): they take turns under the ledger's lock.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CREATE_TABLES_LOCK])
        return True

    def insert_marks_statement(self) -> str:
        """Insert marks given as one JSON array parameter (psycopg's array dumping costs about 9 µs a row)."""
        return (f"INSERT INTO {self.marks} SELECT x->>0, x->>1, x->>2, (x->>3)::bigint "
                "FROM json_array_elements(%s::json) AS x ON CONFLICT DO NOTHING")

    def insert_marks(self, cursor: Any, marks: list[tuple[str, str, str, int]]) -> None:
        cursor.execute(self.insert_marks_statement(), [json.dumps(marks)])
