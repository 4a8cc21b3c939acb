"""The record-time index: what a query asks of the record, and `RecordTimeIndex`, the one
typed API through which the application (and the register) reads the ledger's store.

Both recorders (`ledger.store.sqlite`, `ledger.store.postgres`) keep the index in the same
transaction as the events, with no row per event:

- `ledger_commits`: one row per transaction, its last notification id and its **record
  time**, stamped by the store while it holds the write lock. Record times therefore
  increase in commit order, so "recorded at or before K" is "notification id up to
  N(K)", and "as known at K" (I-9) never changes once K has passed, even with concurrent
  writers.
- `ledger_stream_marks`: one row per aggregate and mark (`LedgerEvent.index_marks`), with
  the client and the first event that carried it: which aggregates a client has, which
  clients are registered, which tickets have work in a period. A client's events are
  then read by the events table's own key.
- `ledger_chain`: one link per transaction (`ledger.store.chain`), which `verify` reads
  back here with the whole log.

Each recorder is a `RecordTimeIndex` and the library's application recorder at once; it
gives the index its `Dialect` (`ledger.store.dialects`), so every query here is written once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, StoredEvent

from ledger.errors import DamagedRecordError
from ledger.events import REGISTERED_MARK, STREAM_MARK, event_id
from ledger.store.chain import ChainedEvent, CommitRow, Contents, Head, Link, contents
from ledger.store.columns import (
    HEAD_COLUMNS,
    read_chained_event,
    read_head,
    read_integer,
    read_payload,
    read_stored_event,
    read_text,
    read_writer,
)
from ledger.store.dialects import Dialect
from ledger.store.mapper import IndexedStoredEvent

LOG_PAGE = 10_000  # events or commits per statement when reading the whole log
LINK_PAGE = 100  # links per statement (a link lists its commit's events)


# --- what a query asks for, and what it gets -------------------------------------------------


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


# --- what a transaction adds beside its events -----------------------------------------------


def marks_carried(stored_events: Sequence[StoredEvent],
                  notification_ids: Sequence[int]) -> list[tuple[str, str, str, int]]:
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


def chain_contents(stored_events: Sequence[StoredEvent]) -> Contents:
    """What a transaction's events put into its link (`ledger.store.chain.contents`). Both
    recorders number the events in the order given (SQLite a range; PostgreSQL returns the
    ids in the order `unnest` inserts them, tests/test_persistence.py)."""
    return contents([(None, s.originator_id, s.originator_version, s.topic, s.state) for s in stored_events])


# --- the index -------------------------------------------------------------------------------


class RecordTimeIndex(ApplicationRecorder):
    """The index's queries, the same for both stores (each recorder gives its `Dialect`).
    Each query is one statement; `reading()` runs several in one transaction."""

    dialect: Dialect
    datastore: Any  # the library's datastore of the recorder

    # --- what each recorder gives ------------------------------------------------------------

    def table_name(self, name: str) -> str:
        """A table of the ledger's store as its statements name it."""
        raise NotImplementedError

    def open_read_only(self) -> None:
        """Make every connection opened from now on refuse writes (before the first one:
        the pool opens them as they are needed)."""
        raise NotImplementedError

    def refresh_statistics(self) -> None:
        """Let the database re-estimate the ledger's tables (worth it after a bulk load)."""
        raise NotImplementedError

    # --- transactions ------------------------------------------------------------------------

    def transaction(self, *, commit: bool) -> AbstractContextManager[Any]:
        """A transaction of the store, its cursor: for tables kept beside the ledger's (the register's)."""
        return self.datastore.transaction(commit=commit)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Run the queries inside in one transaction (one connection, fewer round trips)."""
        if getattr(self._session, "cursor", None) is not None:
            yield
            return
        with self.datastore.transaction(commit=False) as cursor:
            with self.reading_in(cursor):
                yield

    @contextmanager
    def reading_in(self, cursor: Any) -> Iterator[None]:
        """Run the queries inside in the transaction of `cursor` (e.g. one that writes)."""
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

    # --- events, by aggregate, client and record time -----------------------------------------

    def select_streams(self, streams: Sequence[str]) -> list[StoredEvent]:
        """Every event of the given aggregates, stream by stream, in version order."""
        d, found = self.dialect, []
        for some in d.in_chunks(streams):
            where, params = d.one_of("originator_id", some)
            found += [read_stored_event(r) for r in self.rows(f"SELECT * FROM {d.events} WHERE {where} "
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
        rows = [row for some in self.dialect.in_chunks(streams) for row in self._select_events(query, list(some))]
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
                         self._recorded_at(r), read_payload(r["state"]), read_writer(r["recorded_by"]))
                for r in self.rows(statement, params)]

    def _recorded_at(self, row: Any) -> datetime:
        """An event's record time; an event no commit row covers is a damaged record."""
        try:
            if row["recorded_at"] is not None:
                return self.dialect.from_time(row["recorded_at"])
        except (TypeError, ValueError):
            pass
        raise DamagedRecordError(event_id(read_text(row["originator_id"]), row["originator_version"]),
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
        return [(r["client_id"], read_stored_event(r), self._recorded_at(r))
                for r in self.rows(statement, [STREAM_MARK, first, last])]

    def stream_clients(self, streams: Sequence[str]) -> dict[str, str]:
        """The client of each of the given aggregates that exists (its stream mark), by stream."""
        d = self.dialect
        found: dict[str, str] = {}
        for some in d.in_chunks(streams):
            where, params = d.one_of("originator_id", some)
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
        rows = self.rows(f"SELECT {HEAD_COLUMNS} FROM {self.dialect.chain} ORDER BY notification_id DESC LIMIT 1", [])
        return read_head(rows[0] if rows else None)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """`reading()`, seeing one state of the store throughout (later commits unseen)."""
        with self.reading():
            if self.dialect.snapshot_statement is not None:
                self.rows(self.dialect.snapshot_statement, [], fetch=False)
            yield

    def links(self) -> Iterator[Link]:
        """Every link, in log order (a few per statement: a link lists its commit's events)."""
        for page in self._pages(f"SELECT * FROM {self.dialect.chain}", "notification_id", LINK_PAGE):
            for r in page:
                yield Link(read_integer(r["notification_id"]), read_integer(r["sequence"]),
                           read_integer(r["events"]), read_text(r["recorded_at"]), read_text(r["recorded_by"]),
                           read_text(r["hash"]), read_text(r["manifest"]),
                           None if r["adopted_at"] is None else read_text(r["adopted_at"]))

    def commit_rows(self) -> Iterator[CommitRow]:
        """Every commit's record time, in log order, as stored."""
        d = self.dialect
        for page in self._pages(f"SELECT notification_id, recorded_at FROM {d.commits}", "notification_id", LOG_PAGE):
            yield from (CommitRow(read_integer(r["notification_id"]), d.time_text(r["recorded_at"])) for r in page)

    def mark_rows(self) -> Iterator[tuple[str, str, str, int]]:
        """Every stream mark as stored: (stream, mark, client, position), in key order."""
        for page in self._pages(f"SELECT * FROM {self.dialect.marks}", "originator_id, mark", LOG_PAGE):
            yield from ((read_text(r["originator_id"]), read_text(r["mark"]), read_text(r["client_id"]),
                         read_integer(r["notification_id"])) for r in page)

    def log_pages(self) -> Iterator[list[ChainedEvent]]:
        """Every stored event, as stored (whatever it holds), in log order, a page at a time.
        (Rows as tuples, and the database says whether each holds the types written: a
        million of them pass here in a `verify`.)"""
        d = self.dialect
        columns = f"{d.position} AS n, originator_id, originator_version, topic, state"
        clean = not self.rows(f"SELECT 1 FROM {d.events} WHERE NOT {d.as_written()} LIMIT 1", [])
        if clean:  # one scan by the database: then every row is taken as it is
            for page in self._pages(f"SELECT {columns} FROM {d.events}", d.position, LOG_PAGE, tuples=True):
                yield list(map(ChainedEvent._make, page))
            return
        for page in self._pages(f"SELECT {columns}, {d.as_written()} AS as_written FROM {d.events}", d.position,
                                LOG_PAGE, tuples=True):
            yield [ChainedEvent(r[0], r[1], r[2], r[3], r[4]) if r[5] else read_chained_event(*r[:5]) for r in page]

    def tuples(self, statement: str, params: Sequence[Any]) -> Sequence[Sequence[Any]]:
        """`rows`, as rows that need only be read by position (SQLite's are already)."""
        return self.rows(statement, params)

    def _pages(self, select: str, key: str, size: int, *, tuples: bool = False) -> Iterator[list[Any]]:
        """Every row `select` gives, in the order of `key` (one or two columns), a page per
        statement — from the very first, whatever its key: a forged row may sit anywhere.
        `tuples`: rows read by position, the key's columns first."""
        d, columns = self.dialect, [c.strip() for c in key.split(",")]
        order, where, after = ", ".join(columns), f"({key}) > ({', '.join([d.param] * len(columns))})", None
        fetch: Callable[[str, Sequence[Any]], Sequence[Any]] = self.tuples if tuples else self.rows
        while True:
            rows = fetch(f"{select} {'' if after is None else 'WHERE ' + where} ORDER BY {order} LIMIT {size}",
                         after or [])
            yield list(rows)
            if len(rows) < size:
                return
            after = list(rows[-1][: len(columns)]) if tuples else [rows[-1][column] for column in columns]
