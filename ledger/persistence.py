"""How events reach the store and come back: mapper, transcoder, recorders, database URLs.

What here goes beyond the eventsourcing library's defaults:

- `LedgerMapper` (`ledger.store.mapper`) stores pydantic events as JSON of their fields and
  rebuilds them through pydantic validation, running the `upcast_vN_vN+1` chain of the
  event class first. The library's own snapshots (dataclasses) keep the library's encoding.
- The recorders keep a **record-time index** in the same transaction as the events, with
  no row per event:
  - `ledger_commits`: one row per transaction, its last notification id and its **record
    time**, stamped by the store while it holds the write lock. Record times therefore
    increase in commit order, so "recorded at or before K" is "notification id up to
    N(K)", and "as known at K" (I-9) never changes once K has passed, even with concurrent
    writers.
  - `ledger_stream_marks`: one row per aggregate and mark (`LedgerEvent.index_marks`), with
    the client and the first event that carried it: which aggregates a client has, which
    clients are registered, which tickets have work in a period. A client's events are
    then read by the events table's own key.
- Each transaction also extends the **hash chain** (`ledger_chain`, one link per commit,
  `ledger.store.chain`), and every table above refuses UPDATE and DELETE by trigger
  (`ledger.store.append_only`).
- SQLite connections keep the statements they prepared (`LedgerSQLiteFactory`); the
  library's keep one. A ledger opened for reading only (`ledger.store.access`) has
  connections that refuse writes (`open_read_only`).
- Table creation: the PostgreSQL recorder (`ledger.store.postgres`, imported only for a
  PostgreSQL URL) runs no DDL when every table and trigger is there (its `create_table`),
  so that a writer role that owns nothing can open the store; the SQLite recorder waits
  and tries again while another process holds the write lock (an older store's triggers
  are being created).
- `environment_for(url)` turns CONTRACT.md's database URLs into the library's settings,
  and fixes `POSTGRES_ENABLE_DB_FUNCTIONS` off: the library's insert function would
  bypass the recorder that writes the record-time index and the chain.
"""

from __future__ import annotations

import os
import pwd
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from eventsourcing.persistence import (
    OperationalError,
    InterfaceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteFactory,
)
from eventsourcing.utils import get_topic

from ledger.errors import DamagedRecordError
from ledger.events import REGISTERED_MARK, STREAM_MARK, event_id
from ledger.store import append_only
from ledger.store.mapper import IndexedStoredEvent, LedgerMapper, LedgerTranscoder
from ledger.store.urls import parse_url
from ledger.store.chain import ChainedEvent, CommitRow, Contents, Head, Link, build, contents, next_link, utc_text

COMMITS_TABLE = "ledger_commits"
MARKS_TABLE = "ledger_stream_marks"
CHAIN_TABLE = "ledger_chain"
OLD_INDEX_TABLE = "ledger_event_index"  # one row per event, in stores made before the two above
CREATE_TABLES_LOCK = 0x5E_D6E7  # advisory lock id: "support ledger" creating its tables


# --- the record-time index --------------------------------------------------------------


@dataclass(frozen=True)
class IndexRow:
    """One recorded event: its payload, where it sits in the log, and when it was recorded."""

    notification_id: int
    originator_id: str
    originator_version: int
    topic: str
    recorded_at: datetime
    state: bytes
    recorded_by: str | None = None  # the writer's identity the store saw (None: not known)

    @property
    def event_id(self) -> str:
        return event_id(self.originator_id, self.originator_version)

    def stored_event(self) -> StoredEvent:
        return StoredEvent(self.originator_id, self.originator_version, self.topic, self.state)


@dataclass(frozen=True)
class MarkRow:
    """The index's note that an aggregate of a client carries a mark since an event."""

    originator_id: str
    mark: str
    client_id: str
    notification_id: int


@dataclass(frozen=True)
class IndexQuery:
    """Which recorded events to read. Every filter is optional; they combine with AND.
    A client filter reads only the events of that client's aggregates (found by their
    `stream` marks), by the events table's own key."""

    client_id: str | None = None
    clients: Sequence[str] | None = None
    stream: str | None = None
    streams: Sequence[str] | None = None
    stream_prefix: str | None = None  # e.g. "invoice/"
    recorded_after: datetime | None = None
    recorded_lte: datetime | None = None

    def wanted_clients(self) -> list[str] | None:
        return _intersection(None if self.client_id is None else [self.client_id], self.clients)

    def wanted_streams(self) -> list[str] | None:
        return _intersection(None if self.stream is None else [self.stream], self.streams)


def _intersection(one: Sequence[str] | None, other: Sequence[str] | None) -> list[str] | None:
    """Both filters at once (None: no filter)."""
    if one is None or other is None:
        found = one if other is None else other
        return None if found is None else list(found)
    kept = set(other)
    return [item for item in one if item in kept]


UPGRADE_ATTEMPTS = 20  # waits for the write lock (SQLite: 30 s each) while another process upgrades
_TICK = timedelta(microseconds=1)  # record times strictly increase from one commit to the next
_CHUNK = 500  # aggregates per statement when reading many by id from SQLite (PostgreSQL: all at once)


def _mark_rows(stored_events: Sequence[StoredEvent], notification_ids: Sequence[int]) -> list[tuple[str, str, str, int]]:
    """(originator_id, mark, client_id, notification_id) for the marks these events carry,
    each (aggregate, mark) once with its first event; the store keeps the earliest."""
    rows: dict[tuple[str, str], tuple[str, str, str, int]] = {}
    for stored, notification_id in zip(stored_events, notification_ids, strict=True):
        if isinstance(stored, IndexedStoredEvent) and stored.marks:
            for mark in stored.marks:
                key = (stored.originator_id, mark)
                if key not in rows:
                    rows[key] = (stored.originator_id, mark, stored.client_id, notification_id)  # type: ignore[assignment]
    return list(rows.values())


@dataclass(frozen=True)
class Dialect:
    """How one store spells the index's queries: table names, placeholders, the events
    table's position column, lists, and how times are stored. One subclass per store
    (`SQLiteDialect`, `PostgresDialect`); what both spell alike is here."""

    events: str
    commits: str
    marks: str
    chain: str
    param: ClassVar[str]  # "?" or "%s"
    position: ClassVar[str]  # the events table's notification id column
    sqlite: ClassVar[bool]  # for the register's column types
    chunk: ClassVar[int]  # how many ids one statement may list

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

    def as_written(self) -> str:
        """Whether an events row holds the types the ledger writes (a tampered one may not)."""
        raise NotImplementedError

    def time_text(self, value: Any) -> str:
        """A stored record time as the chain hashes it."""
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
    param, position, sqlite = "?", "rowid", True
    chunk = _CHUNK  # SQLite limits the parameters of a statement

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
        return _sqlite_time(instant)

    def from_time(self, value: Any) -> datetime:
        return _from_sqlite_time(value)

    def as_written(self) -> str:
        """SQLite keeps any type in any column: the types themselves are checked."""
        return ("(typeof(originator_id) = 'text' AND typeof(originator_version) = 'integer' "
                "AND typeof(topic) = 'text' AND typeof(state) = 'blob')")

    def time_text(self, value: Any) -> str:
        return _text(value)  # SQLite's text exactly as stored


class PostgresDialect(Dialect):
    param, position, sqlite = "%s", "notification_id", False
    chunk = 1 << 62  # an array has no limit

    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY({self.param})", [list(values)]

    def starts_with(self, column: str, prefix: str) -> tuple[str, list[Any]]:
        return f"starts_with({column}, {self.param})", [prefix]

    def in_query(self, column: str, subquery: str) -> str:
        return f"{column} = ANY(ARRAY({subquery}))"

    def time(self, instant: datetime) -> Any:
        return instant

    def from_time(self, value: Any) -> datetime:
        return value

    def as_written(self) -> str:
        """PostgreSQL's columns hold their types; only NULLs where none was written."""
        return "(topic IS NOT NULL AND state IS NOT NULL)"

    def time_text(self, value: Any) -> str:
        return utc_text(value)


def _stored_event(row: Any) -> StoredEvent:
    return StoredEvent(row["originator_id"], row["originator_version"], row["topic"], _state(row["state"]))


class RecordTimeIndex:
    """The index's queries, the same for both stores (each recorder gives its `Dialect`).
    Each query is one statement; `reading()` runs several in one transaction."""

    dialect: Dialect
    datastore: Any

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Run the queries inside in one transaction (one connection, fewer round trips)."""
        if getattr(self._session, "cursor", None) is not None:
            yield
            return
        with self.datastore.transaction(commit=False) as cursor:
            self._session.cursor = cursor
            try:
                yield
            finally:
                self._session.cursor = None

    @property
    def _session(self) -> threading.local:
        """This thread's open reading transaction, if any."""
        return self.__dict__.setdefault("_reading", threading.local())

    def rows(self, statement: str, params: Sequence[Any], *, fetch: bool = True) -> list[Any]:
        """The rows one read-only statement gives, inside `reading()` if one is open."""
        cursor = getattr(self._session, "cursor", None)
        if cursor is not None:
            cursor.execute(statement, params)
            return cursor.fetchall() if fetch else []
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if fetch else []

    def select_streams(self, streams: Sequence[str]) -> list[StoredEvent]:
        """Every event of the given aggregates, stream by stream, in version order."""
        d, found = self.dialect, []
        for start in range(0, len(streams), d.chunk):
            where, params = d.one_of("originator_id", streams[start : start + d.chunk])
            found += [_stored_event(r) for r in self.rows(f"SELECT * FROM {d.events} WHERE {where} "
                                          "ORDER BY originator_id, originator_version", params)]
        return found

    def select_indexed(self, query: IndexQuery) -> list[IndexRow]:
        """The events `query` selects, in record order, each with its record time."""
        if query.stream_prefix is not None and query.wanted_clients() is None:
            raise ValueError("stream_prefix selects among a client's aggregates: give client_id or clients")
        streams, chunk = query.wanted_streams(), self.dialect.chunk
        if streams == []:
            return []  # no aggregate asked for (e.g. no ticket with work in the period)
        if streams is None or len(streams) <= chunk:
            return self._select_events(query, streams)
        rows = [row for start in range(0, len(streams), chunk)
                for row in self._select_events(query, streams[start : start + chunk])]
        return sorted(rows, key=lambda row: row.notification_id)

    def _select_events(self, query: IndexQuery, streams: list[str] | None) -> list[IndexRow]:
        d, where, params = self.dialect, ["1=1"], []
        if streams is not None:
            condition, values = d.one_of("e.originator_id", streams)
            where.append(condition)
            params += values
        clients = query.wanted_clients()
        if clients is not None:
            condition, values = d.one_of("client_id", clients)
            owned = f"SELECT originator_id FROM {d.marks} WHERE mark = {d.param} AND {condition}"
            params += [STREAM_MARK, *values]
            if query.stream_prefix is not None:
                condition, values = d.starts_with("originator_id", query.stream_prefix)
                owned += f" AND {condition}"
                params += values
            where.append(d.in_query("e.originator_id", owned))
        # Given aggregates or clients, their events are found by the events table's key;
        # "+ 0" keeps the planner from scanning the position index across every client's
        # events instead (it cannot tell how narrow the range is before running).
        position = f"e.{d.position}" if streams is None and clients is None else f"(e.{d.position} + 0)"
        for operator, instant in ((">", query.recorded_after), ("<=", query.recorded_lte)):
            if instant is not None:
                where.append(f"{position} {operator} {d.position_at()}")
                params.append(d.time(instant))
        statement = (
            f"SELECT e.{d.position} AS notification_id, e.originator_id, e.originator_version, e.topic, "
            f"e.state, {d.recorded_at('e')} AS recorded_at, {d.recorded_by('e')} AS recorded_by FROM {d.events} e "
            f"WHERE {' AND '.join(where)} ORDER BY e.{d.position}"
        )
        return [IndexRow(r["notification_id"], r["originator_id"], r["originator_version"], r["topic"],
                         self._recorded_at(r), _state(r["state"]), _recorded_by(r["recorded_by"]))
                for r in self.rows(statement, params)]

    def _recorded_at(self, row: Any) -> datetime:
        """An event's record time; an event no commit row covers is a damaged record."""
        try:
            if row["recorded_at"] is not None:
                return self.dialect.from_time(row["recorded_at"])
        except (TypeError, ValueError):
            pass
        raise DamagedRecordError(event_id(_text(row["originator_id"]), row["originator_version"]),
                                 "it has no record time (no commit row covers it)")

    def select_marks(self, mark: str, *, clients: Sequence[str] | None = None,
                     known_at: datetime | None = None) -> list[MarkRow]:
        """The aggregates carrying `mark` (of `clients`, and as known at K), in record order."""
        d, where, params = self.dialect, [f"mark = {self.dialect.param}"], [mark]
        if clients is not None:
            condition, values = d.one_of("client_id", clients)
            where.append(condition)
            params += values
        if known_at is not None:
            where.append(f"notification_id <= {d.position_at()}")
            params.append(d.time(known_at))
        statement = f"SELECT * FROM {d.marks} WHERE {' AND '.join(where)} ORDER BY notification_id"
        return [MarkRow(r["originator_id"], r["mark"], r["client_id"], r["notification_id"])
                for r in self.rows(statement, params)]

    def select_client_facts(self, after: datetime, upto: datetime) -> list[tuple[str, StoredEvent, datetime]]:
        """Every client's events recorded after `after` and at or before `upto`, with the
        client and the record time: one scan of that stretch of the log, by position."""
        d = self.dialect
        # Positions as numbers, not subqueries: the planner then sees a narrow range.
        first, last = self.position_at(after), self.position_at(upto)
        statement = (
            f"SELECT m.client_id, e.originator_id, e.originator_version, e.topic, e.state, "
            f"{d.recorded_at('e')} AS recorded_at FROM {d.events} e JOIN {d.marks} m "
            f"ON m.originator_id = e.originator_id AND m.mark = {d.param} "
            f"WHERE e.{d.position} > {d.param} AND e.{d.position} <= {d.param}"
        )
        return [(r["client_id"], _stored_event(r), self._recorded_at(r))
                for r in self.rows(statement, [STREAM_MARK, first, last])]

    def stream_clients(self, streams: Sequence[str]) -> dict[str, str]:
        """The client of each of the given aggregates that exists (its stream mark), by stream."""
        d, found = self.dialect, {}
        for start in range(0, len(streams), d.chunk):
            where, params = d.one_of("originator_id", streams[start : start + d.chunk])
            found.update((r["originator_id"], r["client_id"]) for r in self.rows(
                f"SELECT originator_id, client_id FROM {d.marks} WHERE mark = {d.param} AND {where}",
                [STREAM_MARK, *params]))
        return found

    def position_at(self, known_at: datetime) -> int:
        """N(K): the log position of the last event recorded at or before K (0: none)."""
        d = self.dialect
        return int(self.rows(f"SELECT {d.position_at()} AS n", [d.time(known_at)])[0]["n"])

    def client_ids(self) -> list[str]:
        return [row.client_id for row in self.select_marks(REGISTERED_MARK)]

    def stream_version(self, stream: str) -> int:
        """How many events the aggregate `stream` has (0: none)."""
        rows = self.rows(f"SELECT MAX(originator_version) AS v FROM {self.dialect.events} "
                          f"WHERE originator_id = {self.dialect.param}", [stream])
        return rows[0]["v"] or 0

    def last_recorded_at(self) -> datetime | None:
        rows = self.rows(f"SELECT recorded_at FROM {self.dialect.commits} ORDER BY notification_id DESC LIMIT 1", [])
        return self.dialect.from_time(rows[0]["recorded_at"]) if rows else None

    # --- the hash chain --------------------------------------------------------------------

    def head(self) -> Head:
        """The chain's last link: one row, whatever the size of the log."""
        rows = self.rows(f"SELECT {_HEAD_COLUMNS} FROM {self.dialect.chain} ORDER BY notification_id DESC LIMIT 1", [])
        return _head(rows[0] if rows else None)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """`reading()`, seeing one state of the store throughout (later commits unseen)."""
        with self.reading():
            if not self.dialect.sqlite:  # SQLite's read transaction is a snapshot already
                self.rows("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", [], fetch=False)
            yield

    def links(self) -> Iterator[Link]:
        """Every link, in log order (a few per statement: a link lists its commit's events)."""
        for page in self._pages(f"SELECT * FROM {self.dialect.chain}", "notification_id", _LINK_PAGE):
            for r in page:
                yield Link(_integer(r["notification_id"]), _integer(r["sequence"]), _integer(r["events"]),
                           _text(r["recorded_at"]), _text(r["recorded_by"]), _text(r["hash"]), _text(r["manifest"]),
                           None if r["adopted_at"] is None else _text(r["adopted_at"]))

    def commit_rows(self) -> Iterator[CommitRow]:
        """Every commit's record time, in log order, as stored."""
        d = self.dialect
        for page in self._pages(f"SELECT notification_id, recorded_at FROM {d.commits}", "notification_id", _LOG_PAGE):
            yield from (CommitRow(_integer(r["notification_id"]), d.time_text(r["recorded_at"])) for r in page)

    def mark_rows(self) -> Iterator[tuple[str, str, str, int]]:
        """Every stream mark as stored: (stream, mark, client, position), in key order."""
        for page in self._pages(f"SELECT * FROM {self.dialect.marks}", "originator_id, mark", _LOG_PAGE):
            yield from ((_text(r["originator_id"]), _text(r["mark"]), _text(r["client_id"]),
                         _integer(r["notification_id"])) for r in page)

    def log_pages(self) -> Iterator[list[ChainedEvent]]:
        """Every stored event, as stored (whatever it holds), in log order, a page at a time.
        (Rows as tuples, and the database says whether each holds the types written: a
        million of them pass here in a `verify`.)"""
        d = self.dialect
        columns = f"{d.position} AS n, originator_id, originator_version, topic, state"
        clean = not self.rows(f"SELECT 1 FROM {d.events} WHERE NOT {d.as_written()} LIMIT 1", [])
        if clean:  # one scan by the database: then every row is taken as it is
            for page in self._pages(f"SELECT {columns} FROM {d.events}", d.position, _LOG_PAGE, tuples=True):
                yield list(map(ChainedEvent._make, page))
            return
        for page in self._pages(f"SELECT {columns}, {d.as_written()} AS as_written FROM {d.events}", d.position,
                                _LOG_PAGE, tuples=True):
            yield [ChainedEvent(r[0], r[1], r[2], r[3], r[4]) if r[5] else _chained_event(*r[:5]) for r in page]

    def tuples(self, statement: str, params: Sequence[Any]) -> Sequence[Sequence[Any]]:
        """`rows`, as rows that need only be read by position (SQLite's are already)."""
        return self.rows(statement, params)

    def _pages(self, select: str, key: str, size: int, *, tuples: bool = False) -> Iterator[list[Any]]:
        """Every row `select` gives, in the order of `key` (one or two columns), a page per
        statement — from the very first, whatever its key: a forged row may sit anywhere.
        `tuples`: rows read by position, the key's columns first."""
        d, columns = self.dialect, [c.strip() for c in key.split(",")]
        order, where, after = ", ".join(columns), f"({key}) > ({', '.join([d.param] * len(columns))})", None
        fetch = self.tuples if tuples else self.rows
        while True:
            rows = fetch(f"{select} {'' if after is None else 'WHERE ' + where} ORDER BY {order} LIMIT {size}",
                         after or [])
            yield list(rows)
            if len(rows) < size:
                return
            after = list(rows[-1][: len(columns)]) if tuples else [rows[-1][column] for column in columns]

    def _adopt_into_new_chain(self, cursor: Any) -> None:
        """In the transaction that creates the chain's table: a store written before the
        chain existed gets links for every commit it holds, built from what it holds, marked
        as adopted; they vouch for that history from now on. Only then: a chain table that
        exists but lacks links for the commits is a record someone emptied, not an old one."""
        cursor.execute(f"SELECT 1 FROM {self.dialect.commits} LIMIT 1")
        if cursor.fetchone() is not None:
            self._build_chain(cursor)

    def _build_chain(self, cursor: Any) -> None:
        """Links for every commit the store holds, built from what it holds (an older store)."""
        d = self.dialect
        self._session.cursor = cursor  # the reads below run in this transaction
        try:
            links = [link.row() for link in build(self.commit_rows(), self.log_pages(),
                                                  utc_text(datetime.now(timezone.utc)))]
        finally:
            self._session.cursor = None
        for start in range(0, len(links), _LINK_PAGE):
            cursor.executemany(f"INSERT INTO {d.chain} VALUES ({', '.join([d.param] * 8)})",
                               links[start : start + _LINK_PAGE])

    # --- stores written with one index row per event --------------------------------------

    def adopt_per_event_index(self, mapper: LedgerMapper) -> bool:
        """Stores written before `ledger_commits` existed kept one `ledger_event_index` row
        per event. Their record times, marks and chain are built once, in one transaction:
        a commit per distinct record time, and the marks each event carries (read through
        the mapper, so upcasters apply). The old table is left as it was."""
        d, waited = self.dialect, None
        for _attempt in range(UPGRADE_ATTEMPTS):
            if not self._has_per_event_index() or self.rows(f"SELECT 1 FROM {d.commits} LIMIT 1", []):
                return False
            try:
                return self._upgrade(mapper)
            except OperationalError as error:  # SQLite's lock timed out: another process upgrades
                waited = error
        raise OperationalError(f"the store's upgrade did not finish after {UPGRADE_ATTEMPTS} attempts") from waited

    def _upgrade(self, mapper: LedgerMapper) -> bool:
        d = self.dialect
        with self.datastore.transaction(commit=True) as cursor:
            self._lock_for_upgrade(cursor)
            cursor.execute(f"SELECT 1 FROM {d.commits} LIMIT 1")
            if cursor.fetchone() is not None:
                return False  # another process has done it meanwhile
            cursor.execute(f"INSERT INTO {d.commits} SELECT MAX(notification_id), recorded_at "
                           f"FROM {self._old_index} GROUP BY recorded_at")
            last = 0
            while True:
                cursor.execute(f"SELECT {d.position} AS n, originator_id, originator_version, topic, state "
                               f"FROM {d.events} WHERE {d.position} > {d.param} ORDER BY {d.position} LIMIT 10000",
                               [last])
                page = cursor.fetchall()
                if not page:
                    break
                stored = [mapper.to_stored_event(mapper.to_domain_event(_stored_event(r))) for r in page]
                if marks := _mark_rows(stored, [r["n"] for r in page]):
                    self._insert_marks(cursor, marks)
                last = page[-1]["n"]
            self._build_chain(cursor)  # its commits are new: so is its chain
            return True

    @property
    def _old_index(self) -> str:
        raise NotImplementedError

    def _has_per_event_index(self) -> bool:
        raise NotImplementedError

    def _lock_for_upgrade(self, cursor: Any) -> None:
        """Take the store's write lock, as writers do, until the transaction ends."""
        raise NotImplementedError

    def _insert_marks(self, cursor: Any, marks: list[tuple[str, str, str, int]]) -> None:
        raise NotImplementedError


_sqlite_time = utc_text  # fixed-width UTC text: text order is time order in SQLite
_LOG_PAGE = 10_000  # events or commits per statement when reading the whole log
_LINK_PAGE = 100  # links per statement (a link lists its commit's events)
_CHAIN_COLUMNS = ("notification_id {integer} PRIMARY KEY, sequence {integer} NOT NULL UNIQUE, "
                  "events {integer} NOT NULL, recorded_at {text} NOT NULL, recorded_by {text} NOT NULL, "
                  "hash {text} NOT NULL, manifest {text} NOT NULL, adopted_at {text}")
_HEAD_COLUMNS = "notification_id, recorded_at, hash, events, sequence"


def _head(row: Any) -> Head:
    """The chain's head from a row of _HEAD_COLUMNS (None: no link yet)."""
    if row is None:
        return Head.of(None)
    return Head(_integer(row["notification_id"]), _text(row["recorded_at"]), _text(row["hash"]),
                _integer(row["events"]), _integer(row["sequence"]))


# What verify and the queries read in place of a value of another type than the ledger
# writes (a tampered row: SQLite keeps any type in any column): a form no ledger value
# takes (it starts with NUL), so the row no longer matches what was committed, is named
# by verify and cannot be decoded — never taken for the value it resembles.
_FOREIGN = "\x00{kind}:{value!r}"


def _state(value: Any) -> bytes:
    """A stored payload: bytes as they are; anything else, as a form no payload takes."""
    if type(value) is bytes:
        return value
    if type(value) is memoryview:
        return bytes(value)
    return _FOREIGN.format(kind=type(value).__name__, value=value).encode("utf-8", "backslashreplace")


def _integer(value: Any) -> int:
    """A stored integer; anything else (text, bytes, NULL — a tampered row) reads as -1,
    which no ledger row holds, so verify finds the row changed."""
    return value if type(value) is int else -1


def _text(value: Any) -> str:
    """A stored text column: text as it is; anything else (bytes, a number, NULL), as a
    form no ledger text takes."""
    if type(value) is str:
        return value
    return _FOREIGN.format(kind=type(value).__name__, value=value)


def _recorded_by(value: Any) -> str | None:
    """The writer a link names (None: not known, as for adopted links)."""
    return None if value is None or value == "" else _text(value)


def chain_contents(stored_events: Sequence[StoredEvent]) -> Contents:
    """What a transaction's events put into its link (`ledger.store.chain.contents`). Both
    recorders number the events in the order given (SQLite a range; PostgreSQL returns the
    ids in the order `unnest` inserts them, tests/test_persistence.py)."""
    return contents([(None, s.originator_id, s.originator_version, s.topic, s.state) for s in stored_events])


def _chained_event(position: int, stream: Any, version: Any, topic: Any, state: Any) -> ChainedEvent:
    """A stored event as the chain sees it, from a row holding other types than the ledger
    writes (a tampered one): they are read so that the event no longer matches its link."""
    return ChainedEvent(position, _text(stream), _integer(version), _text(topic), _state(state))


def os_user() -> str:
    """The operating-system user of this process: what `--actor` cannot choose (SQLite's
    `recorded_by`). Read from the process's user id, not from $USER or $LOGNAME."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _from_sqlite_time(text: str) -> datetime:
    return datetime.fromisoformat(text)  # Python 3.11 reads the trailing Z as UTC


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
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ({_CHAIN_COLUMNS.format(integer='INTEGER', text='TEXT')})",
            *append_only.sqlite_triggers([self.events_table_name, COMMITS_TABLE, MARKS_TABLE, CHAIN_TABLE]),
        ]

    def _create_table(self, c: SQLiteCursor) -> None:
        c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [CHAIN_TABLE])
        had_chain = c.fetchone() is not None
        super()._create_table(c)
        if not had_chain:
            self._adopt_into_new_chain(c)

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
                now = max(now, _from_sqlite_time(last[0]) + _TICK)
            position, recorded_at = max(notification_ids), _sqlite_time(now)
            c.execute(f"INSERT INTO {COMMITS_TABLE} VALUES (?, ?)", (position, recorded_at))
            # The chain's previous link, read under the same lock: links follow commit order.
            c.execute(f"SELECT {_HEAD_COLUMNS} FROM {CHAIN_TABLE} ORDER BY notification_id DESC LIMIT 1")
            link = next_link(_head(c.fetchone()), position, recorded_at, self.writer, notification_ids, taken)
            c.execute(f"INSERT INTO {CHAIN_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", link.row())
            if marks := _mark_rows(stored_events, notification_ids):
                self._insert_marks(c, marks)
        return notification_ids

    def _insert_marks(self, cursor: Any, marks: list[tuple[str, str, str, int]]) -> None:
        cursor.executemany(f"INSERT OR IGNORE INTO {MARKS_TABLE} VALUES (?,?,?,?)", marks)

    _old_index = OLD_INDEX_TABLE

    def _has_per_event_index(self) -> bool:
        return bool(self.rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [OLD_INDEX_TABLE]))

    def _lock_for_upgrade(self, cursor: Any) -> None:
        cursor.execute(f"DELETE FROM {COMMITS_TABLE} WHERE 0")  # a write: takes SQLite's write lock

    def refresh_statistics(self) -> None:
        """Nothing to do: SQLite picks the right indexes for these queries without statistics."""

    def table_name(self, name: str) -> str:
        """A table of the ledger's store as its statements name it."""
        return name


# --- database URLs ----------------------------------------------------------------------


def environment_for(url: str) -> dict[str, str]:
    """The eventsourcing settings for a CONTRACT.md database URL (`ledger.store.urls`):
    `sqlite:///PATH` is the embedded store, `postgresql://USER[:PASSWORD]@HOST:PORT/DBNAME`
    the production store (trust auth needs no password), `?schema=NAME` its schema (which
    must exist). How a store is opened for reading only is `ledger.store.access`'s part.
    """
    store = parse_url(url)
    common = {
        "MAPPER_TOPIC": get_topic(LedgerMapper),
        "TRANSCODER_TOPIC": get_topic(LedgerTranscoder),
        "ORIGINATOR_ID_TYPE": "text",
    }
    if store.sqlite:
        return {
            **common,
            "PERSISTENCE_MODULE": get_topic(LedgerSQLiteFactory),
            "SQLITE_DBNAME": store.path,
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": get_topic(LedgerSQLiteRecorder),
        }
    return {
        **common,
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": store.dbname,
        "POSTGRES_HOST": store.host,
        "POSTGRES_PORT": str(store.port),
        "POSTGRES_USER": store.user,
        "POSTGRES_PASSWORD": store.password,
        "POSTGRES_SCHEMA": store.schema,
        # How long the library's pool waits for a connection. Opening the store first
        # connects once directly (`ledger.store.postgres.probe`), so that a server that
        # cannot be reached is named at once instead of after this wait.
        "POSTGRES_CONNECT_TIMEOUT": "5",
        # The library's insert function would bypass the recorder that writes the
        # record-time index and the chain: the ledger always inserts through its own.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        # The library ends a session idle in a transaction after 5 s. A read transaction
        # (`RecordTimeIndex.reading`) may decode a long history between statements.
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "60",
        # By topic, so that a SQLite ledger never imports the PostgreSQL driver.
        "APPLICATION_RECORDER_TOPIC": "ledger.store.postgres:LedgerPostgresRecorder",
    }
