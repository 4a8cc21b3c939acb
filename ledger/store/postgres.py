"""The PostgreSQL recorder: the library's, with the record-time index and the hash chain
written in the same transaction as the events, and the events sent as binary arrays.

Imported only for a PostgreSQL URL (`ledger.store.settings.environment_for` names it by
topic), so that a SQLite ledger never loads the PostgreSQL driver.

It relies on the library calling a save's steps in one thread and in this order:
`_insert_events` (before the table lock: the events' digest is computed there), then
`_insert_stored_events` (the lock and the insert), then `_fetch_ids_after_insert_events`
(the link). Were the first not called, the link is still right: the digest is computed
then, under the lock.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.rows import DictRow, dict_row, tuple_row
from psycopg.sql import SQL, Identifier

from ledger.store import append_only
from ledger.store.chain import next_link, utc_text
from ledger.store.columns import HEAD_COLUMNS, read_head
from ledger.store.dialects import PostgresDialect
from ledger.store.index import RecordTimeIndex, chain_contents, marks_carried
from ledger.store.tables import (
    CHAIN_COLUMNS,
    CHAIN_TABLE,
    COMMITS_TABLE,
    MARKS_TABLE,
    OLD_INDEX_TABLE,
    StoreAccessError,
    check_ledger_tables,
)
from ledger.store.upgrade import adopt_into_new_chain
from ledger.store.urls import StoreUrl, scrub


class ColumnArraysPostgresRecorder(PostgresAggregateRecorder):
    """The library's PostgreSQL insert, with the events sent as four arrays (ids,
    versions, topics, states) in binary instead of one array of a composite type, which
    psycopg formats as text in Python: about 1 µs of client CPU an event instead of 12.
    The statement is the library's otherwise. Like the library's, it relies on PostgreSQL
    inserting, numbering and returning the rows in the order `unnest` gives them (what
    tests/test_persistence.py checks). It must come after PostgresApplicationRecorder in
    a recorder's bases: that class appends RETURNING to this statement and takes the
    table lock and sends NOTIFY before calling this insert."""

    def __init__(self, datastore: Any, **kwargs: Any):
        super().__init__(datastore, **kwargs)
        self.insert_events_statement = SQL(
            "INSERT INTO {schema}.{table} AS t (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{originator_id_type}[], %b::bigint[], %b::text[], %b::bytea[])"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name),
                 originator_id_type=Identifier(self.datastore.originator_id_type))

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any) -> None:
        curs.execute(self.insert_events_statement, [
            [s.originator_id for s in stored_events], [s.originator_version for s in stored_events],
            [s.topic for s in stored_events], [s.state for s in stored_events]])


class LedgerPostgresRecorder(RecordTimeIndex, PostgresApplicationRecorder, ColumnArraysPostgresRecorder):
    """The library's PostgreSQL recorder, plus the record-time index in the same transaction."""

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        schema = self.datastore.schema
        self.dialect = PostgresDialect(
            events=self.table_name(self.events_table_name), commits=self.table_name(COMMITS_TABLE),
            marks=self.table_name(MARKS_TABLE), chain=self.table_name(CHAIN_TABLE),
        )
        names = {"schema": Identifier(schema), "commits": Identifier(COMMITS_TABLE),
                 "marks": Identifier(MARKS_TABLE), "marks_client": Identifier(f"{MARKS_TABLE}_by_client"),
                 "chain": Identifier(CHAIN_TABLE)}

        def sql(text: str) -> Any:
            return SQL(text).format(**names)  # type: ignore[arg-type]

        self.sql_create_statements += [
            sql("CREATE TABLE IF NOT EXISTS {schema}.{commits} ("
                "notification_id bigint PRIMARY KEY, recorded_at timestamptz NOT NULL UNIQUE)"),
            sql("CREATE TABLE IF NOT EXISTS {schema}.{marks} ("
                "originator_id text NOT NULL, mark text NOT NULL, client_id text NOT NULL, "
                "notification_id bigint NOT NULL, PRIMARY KEY (originator_id, mark))"),
            sql("CREATE INDEX IF NOT EXISTS {marks_client} ON {schema}.{marks} (client_id, mark)"),
            sql("CREATE TABLE IF NOT EXISTS {schema}.{chain} ("
                + CHAIN_COLUMNS.format(integer="bigint", text="text") + ")"),
            *(SQL(statement) for statement in append_only.postgres_triggers(  # type: ignore[call-overload]
                Identifier(schema).as_string(None), [Identifier(t).as_string(None) for t in self.protected_tables])),
        ]
        # Two statements per transaction, still inside the EXCLUSIVE lock the library takes
        # for inserts: the commit's record time (later than every earlier one), who is
        # writing, and the chain's previous link; then the commit, its link and the marks.
        self._chain_head = (
            f"SELECT GREATEST(clock_timestamp(), (SELECT recorded_at + interval '1 microsecond' FROM "
            f"{self.dialect.commits} ORDER BY notification_id DESC LIMIT 1)) AS now, session_user AS who, l.* "
            f"FROM (SELECT 1) AS one LEFT JOIN (SELECT {HEAD_COLUMNS} FROM {self.dialect.chain} "
            "ORDER BY notification_id DESC LIMIT 1) AS l ON true")
        self._insert_index = (
            f"WITH recorded AS (INSERT INTO {self.dialect.commits} VALUES (%s, %s)), "
            f"linked AS (INSERT INTO {self.dialect.chain} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)) "
            + self.dialect.insert_marks_statement())

    @property
    def protected_tables(self) -> list[str]:
        """The tables whose rows the ledger's answers rest on: append-only (`append_only`)."""
        return [self.events_table_name, COMMITS_TABLE, MARKS_TABLE, CHAIN_TABLE]

    def roles_sql(self, writer: str, auditor: str, derived: Sequence[str]) -> str:
        """The SQL creating the writer and auditor roles for this store (`append_only.roles_sql`);
        `derived`: the tables rebuilt from the events, which the writer maintains."""
        schema = self.datastore.schema

        def quoted(name: str) -> str:
            return Identifier(name).as_string(None)

        return append_only.roles_sql(
            quoted(schema), [quoted(t) for t in self.protected_tables], [quoted(t) for t in derived],
            quoted(f"{self.events_table_name}_notification_id_seq"), quoted(self.events_table_name),
            quoted(writer), quoted(auditor))

    def create_table(self) -> None:
        """The library's tables and the ledger's, unless every one is there with its
        triggers: then no DDL runs, so that a role without CREATE (the writer of
        `append_only.roles_sql`) can open the store."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(append_only.postgres_protected_query(), [self.datastore.schema, self.protected_tables])
            ready = curs.fetchone()["n"] == 2 * len(self.protected_tables)  # type: ignore[index]
        if ready:
            self.datastore.register_type_adapters()
            return
        super().create_table()

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        # Two processes opening a new store at once would race on CREATE OR REPLACE
        # FUNCTION ("tuple concurrently updated"): take turns.
        self.dialect.take_turns_creating_tables(curs)
        curs.execute(*self.dialect.has_table(self.dialect.chain))
        had_chain = curs.fetchone()["n"]  # type: ignore[index]
        super()._create_table(curs)
        if not had_chain:
            curs.execute(self.dialect.lock_for_writing())
            adopt_into_new_chain(self, curs)

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        """The library's first step, before it takes the table lock: what the events put
        into their link is computed here, outside the lock."""
        self._taken.contents = chain_contents(stored_events)
        super()._insert_events(curs, stored_events, **kwargs)

    @property
    def _taken(self) -> threading.local:
        """This thread's transaction in progress (the library calls its steps in one thread)."""
        return self.__dict__.setdefault("_taken_local", threading.local())

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        taken, self._taken.contents = getattr(self._taken, "contents", None), None
        if notification_ids:
            curs.execute(self._chain_head)
            row: Any = curs.fetchone()
            position = max(notification_ids)
            head = read_head(row) if row["notification_id"] is not None else read_head(None)
            link = next_link(head, position, utc_text(row["now"]), row["who"], notification_ids,
                             taken or chain_contents(stored_events))
            marks = json.dumps(marks_carried(stored_events, notification_ids))
            curs.execute(self._insert_index, [position, row["now"], *link.row(), marks])
        return notification_ids

    def tuples(self, statement: str, params: Sequence[Any]) -> Sequence[Sequence[Any]]:
        """`rows` as tuples: psycopg builds a dict per row otherwise (a third of reading the log)."""
        with self.reading():
            cursor = self._session.cursor
            cursor.row_factory = tuple_row
            try:
                cursor.execute(statement, params)
                return cursor.fetchall()  # type: ignore[no-any-return]
            finally:
                cursor.row_factory = dict_row

    def table_name(self, name: str) -> str:
        """A table of the ledger's store as its statements name it: in the store's schema."""
        return Identifier(self.datastore.schema, name).as_string(None)

    def open_read_only(self) -> None:
        """Make every connection this recorder opens from now on refuse writes (called
        before the first one is opened: the pool opens lazily)."""
        self.datastore.pool.kwargs["options"] = "-c default_transaction_read_only=on"

    def refresh_statistics(self) -> None:
        """ANALYZE the ledger's tables: after a bulk load the planner may misjudge them
        (autovacuum may be off or behind)."""
        with self.datastore.transaction(commit=True) as curs:
            for table in (COMMITS_TABLE, MARKS_TABLE, self.events_table_name):
                curs.execute(SQL("ANALYZE {schema}.{table}").format(
                    schema=Identifier(self.datastore.schema), table=Identifier(table)))


# --- opening: one direct connection first ------------------------------------------------------


PROBE_TIMEOUT = 2  # seconds; libpq's least connect_timeout (per address a host name resolves to)


def probe(store: StoreUrl, *, read_only: bool, events_table: str) -> None:
    """Connect once, directly, before the library's pool does, so that a store that cannot
    be reached is named at once: the pool retries in the background and reports only that
    it waited (`connection_failure`). Then check what opening needs: the schema, and for
    reading only, the ledger's tables (`ledger.store.tables.check_ledger_tables`)."""
    try:
        connection = psycopg.connect(host=store.host, port=store.port, dbname=store.dbname, user=store.user,
                                     password=store.password, connect_timeout=PROBE_TIMEOUT, autocommit=True)
    except psycopg.Error as error:
        raise StoreAccessError(f"cannot connect to {store.shown}: {connection_failure(error, store)}") from None
    schema = store.schema or "public"
    try:
        with connection:
            if connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone() is None:
                if read_only:
                    raise StoreAccessError(f"no ledger at {store.shown}")
                raise StoreAccessError(f'no schema "{schema}" in database "{store.dbname}" at {store.shown}: '
                                       f"create it first (CREATE SCHEMA {schema})")
            if read_only:
                _check_tables(connection, schema, store, events_table)
    except psycopg.Error as error:
        raise StoreAccessError(f"cannot read {store.shown}: {scrub(_first_line(error), store)}") from None


def _check_tables(connection: psycopg.Connection[Any], schema: str, store: StoreUrl, events_table: str) -> None:
    tables = {name for (name,) in connection.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')", [schema])}
    old_index_only = False
    if {OLD_INDEX_TABLE, COMMITS_TABLE, events_table} <= tables:
        def some(table: str) -> bool:
            name = Identifier(schema, table).as_string(None)
            return connection.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchone() is not None

        old_index_only = not some(COMMITS_TABLE) and some(events_table)
    check_ledger_tables(tables, events_table, store.shown, old_index_only=old_index_only)


def connection_failure(error: psycopg.Error, store: StoreUrl) -> str:
    """Why a connection attempt failed, in a user's words: refused, unknown host, no such
    database or role, authentication failed, no answer — else the server's own line. The
    connection errors carry no SQLSTATE (libpq gives only its message), so it is read."""
    text = str(error)
    where = f"{store.host}:{store.port}"
    if isinstance(error, psycopg.errors.ConnectionTimeout) or "timeout expired" in text:
        return f"no answer from {where} within {PROBE_TIMEOUT} s"
    if "failed to resolve host" in text or "could not translate host name" in text:
        return f"unknown host {store.host!r} (the name does not resolve)"
    if "Connection refused" in text:
        return f"connection refused by {where} (is a PostgreSQL server listening there?)"
    if found := re.search(r'database "(.*)" does not exist', text):
        return f'database "{found[1]}" does not exist on {where}'
    if found := re.search(r'role "(.*)" does not exist', text):
        return f'role "{found[1]}" does not exist on {where}'
    if "authentication failed" in text or "no password supplied" in text or "password" in text.lower():
        return f'authentication failed for user "{store.user}" on {where}'
    return scrub(_server_line(text), store)


def _server_line(text: str) -> str:
    """libpq's message without its preamble ("connection failed: connection to server at
    … failed: FATAL:  …"): the server's own words."""
    line = text.strip().splitlines()[0] if text.strip() else "connection failed"
    return re.sub(r"^.*failed:\s*(FATAL:\s*)?", "", line) or line


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
