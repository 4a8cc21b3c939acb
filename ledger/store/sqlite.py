"""The SQLite store: the library's SQLite recorder and connections, tuned, plus the
record-time index and the hash chain in the same transaction as the events.

- `CheckpointingSQLiteRecorder`: the write-ahead log checkpointed less often.
- `ExecutemanySQLiteRecorder`: a transaction's events inserted with one statement.
- `StatementCachingSQLiteConnectionPool`, `LedgerSQLiteFactory`: connections that keep the
  statements they prepared (the library's keep one), and that refuse writes for a ledger
  opened for reading only (`open_read_only`).
- `LedgerSQLiteRecorder`: the ledger's recorder (`ledger.store.settings` names it): the
  index and the chain written under SQLite's write lock; its tables' triggers refuse
  UPDATE and DELETE (`ledger.store.append_only`); while another process holds the write
  lock (an older store being brought up to date), opening waits and tries again.
"""

from __future__ import annotations

import os
import pwd
import sqlite3
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError, StoredEvent
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteFactory,
)

from ledger.store import append_only
from ledger.store.chain import next_link
from ledger.store.columns import HEAD_COLUMNS, read_head
from ledger.store.dialects import SQLiteDialect
from ledger.store.index import RecordTimeIndex, chain_contents, marks_carried
from ledger.store.tables import CHAIN_COLUMNS, CHAIN_TABLE, COMMITS_TABLE, MARKS_TABLE
from ledger.store.upgrade import UPGRADE_ATTEMPTS, adopt_into_new_chain

TICK = timedelta(microseconds=1)  # record times strictly increase from one commit to the next

# SQLite copies the write-ahead log into the database file (a checkpoint, with an fsync)
# once the log holds this many pages after a commit; its default is 1000. A batch of
# commands writes events, commits and marks into B-tree pages spread over every index, so
# at a million events nearly each batch passed 1000 pages and paid a checkpoint: an eighth
# of a bulk apply. With 10000 pages (about 40 MB of log) a checkpoint writes each hot page
# once for several batches. Durability is unchanged: every commit still syncs the log.
WAL_AUTOCHECKPOINT_PAGES = 10_000


class CheckpointingSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, checkpointing every WAL_AUTOCHECKPOINT_PAGES pages."""

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        c.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")  # per connection; cheap
        return super()._insert_events(c, stored_events, **kwargs)


class ExecutemanySQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite application recorder inserting a transaction's events with one
    `executemany` (its aggregate recorder's insert, called by name), instead of one
    `execute` per event to read each new rowid.

    The notification ids are still exact: the insert holds SQLite's write lock until the
    commit, the statement is a plain INSERT into the library's table (a rowid table without
    AUTOINCREMENT or INSERT triggers: the ledger's own fire on UPDATE and DELETE only), and
    such a table gives each new row the largest rowid plus one (the exception, a table that
    has reached rowid 2**63 - 1, is out of reach). So the events get consecutive ids ending
    at `last_insert_rowid()`. That every event made one new row is checked;
    tests/test_persistence.py checks the ids.
    """

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        c.execute("SELECT total_changes()")
        before: int = c.fetchone()[0]
        SQLiteAggregateRecorder._insert_events(self, c, stored_events, **kwargs)
        c.execute("SELECT last_insert_rowid(), total_changes()")
        last, after = c.fetchone()
        if after - before != len(stored_events):
            raise ProgrammingError(f"inserting {len(stored_events)} events changed {after - before} rows")
        return range(last - len(stored_events) + 1, last + 1)


# Prepared statements each SQLite connection keeps (sqlite3's own default).
STATEMENT_CACHE_SIZE = 128


class StatementCachingSQLiteConnectionPool(SQLiteConnectionPool):
    """The library's SQLite connections, each keeping its last STATEMENT_CACHE_SIZE prepared
    statements.

    The library opens them with `cached_statements=True`, which sqlite3 reads as a cache of
    one statement: every statement but a repeat of the last one was compiled again. An
    invoice runs half a dozen different queries, so compiling was a third of its time
    (300 invoices in a loop on a 300k-event store: 2.1 ms an invoice against 1.35 ms).
    Otherwise this opens a connection as the library does (tests/test_persistence.py
    checks the setting).
    """

    read_only = False  # `LedgerSQLiteRecorder.open_read_only`: connections refuse writes

    def _create_connection(self) -> SQLiteConnection:
        try:
            connection = sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,  # the library's transactions say BEGIN themselves
                cached_statements=STATEMENT_CACHE_SIZE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as error:
            raise InterfaceError(error) from error
        if self.read_only:
            connection.execute("PRAGMA query_only = ON")  # and the journal mode is left as it is
        elif not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        connection.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=connection, max_age=self.max_age)


class LedgerSQLiteFactory(SQLiteFactory):
    """The library's SQLite persistence, its connections from a
    `StatementCachingSQLiteConnectionPool`."""

    def __init__(self, env: Any):
        super().__init__(env)
        shipped = self.datastore.pool
        self.datastore.pool = StatementCachingSQLiteConnectionPool(
            db_name=shipped.db_name, lock_timeout=shipped.lock_timeout)
        shipped.close()


def os_user() -> str:
    """The operating-system user of this process: what `--actor` cannot choose (SQLite's
    `recorded_by`). Read from the process's user id, not from $USER or $LOGNAME."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


class LedgerSQLiteRecorder(RecordTimeIndex, CheckpointingSQLiteRecorder, ExecutemanySQLiteRecorder):
    """The library's SQLite recorder, plus the record-time index in the same transaction."""

    def __init__(self, datastore: Any, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.dialect = SQLiteDialect(events=self.events_table_name, commits=COMMITS_TABLE, marks=MARKS_TABLE,
                                     chain=CHAIN_TABLE)
        self.writer = os_user()

    def open_read_only(self) -> None:
        """Make every connection opened from now on refuse writes (before the first one:
        the pool opens them as they are needed)."""
        self.datastore.pool.read_only = True

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {COMMITS_TABLE} ("
            "notification_id INTEGER PRIMARY KEY, recorded_at TEXT NOT NULL UNIQUE)",
            f"CREATE TABLE IF NOT EXISTS {MARKS_TABLE} ("
            "originator_id TEXT NOT NULL, mark TEXT NOT NULL, client_id TEXT NOT NULL, "
            "notification_id INTEGER NOT NULL, PRIMARY KEY (originator_id, mark)) WITHOUT ROWID",
            f"CREATE INDEX IF NOT EXISTS {MARKS_TABLE}_by_client ON {MARKS_TABLE} (client_id, mark)",
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ({CHAIN_COLUMNS.format(integer='INTEGER', text='TEXT')})",
            *append_only.sqlite_triggers([self.events_table_name, COMMITS_TABLE, MARKS_TABLE, CHAIN_TABLE]),
        ]

    def _create_table(self, c: SQLiteCursor) -> None:
        c.execute(*self.dialect.has_table(CHAIN_TABLE))
        had_chain = bool(c.fetchone()["n"])
        super()._create_table(c)
        if not had_chain:
            adopt_into_new_chain(self, c)

    def create_table(self) -> None:
        """The library's tables and the ledger's, with their triggers. Creating what is
        missing (an older store's triggers) needs the write lock: while another process
        holds it, e.g. upgrading that store, wait and try again instead of failing."""
        waited = None
        for attempt in range(UPGRADE_ATTEMPTS):
            try:
                return super().create_table()
            except OperationalError as error:
                if "locked" not in str(error):
                    raise
                waited = error  # a read turning into a write is refused at once, not after the timeout:
                time.sleep(min(1.0, 0.05 * 2**attempt))  # wait a little longer each time
        raise OperationalError(f"the store's tables were not ready after {UPGRADE_ATTEMPTS} attempts") from waited

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        taken = chain_contents(stored_events)  # before the insert takes the write lock
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        if notification_ids:
            # The insert above holds SQLite's write lock: no other writer is between the
            # last record time and this one, so record times increase in commit order.
            c.execute(f"SELECT recorded_at FROM {COMMITS_TABLE} ORDER BY notification_id DESC LIMIT 1")
            last = c.fetchone()
            now = datetime.now(timezone.utc)
            if last is not None:
                now = max(now, self.dialect.from_time(last[0]) + TICK)
            position, recorded_at = max(notification_ids), self.dialect.time(now)
            c.execute(f"INSERT INTO {COMMITS_TABLE} VALUES (?, ?)", (position, recorded_at))
            # The chain's previous link, read under the same lock: links follow commit order.
            c.execute(f"SELECT {HEAD_COLUMNS} FROM {CHAIN_TABLE} ORDER BY notification_id DESC LIMIT 1")
            link = next_link(read_head(c.fetchone()), position, recorded_at, self.writer, notification_ids, taken)
            c.execute(f"INSERT INTO {CHAIN_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", link.row())
            if marks := marks_carried(stored_events, notification_ids):
                self.dialect.insert_marks(c, marks)
        return notification_ids

    def refresh_statistics(self) -> None:
        """Nothing to do: SQLite picks the right indexes for these queries without statistics."""

    def table_name(self, name: str) -> str:
        """A table of the ledger's store as its statements name it."""
        return name
