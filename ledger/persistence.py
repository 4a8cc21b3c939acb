"""How events reach the store and come back: mapper, transcoder, recorders, database URLs.

Three things here go beyond the eventsourcing library's defaults:

- `LedgerMapper` stores pydantic events as JSON of their fields and rebuilds them through
  pydantic validation, running the `upcast_vN_vN+1` chain of the event class first. The
  library's own snapshots (dataclasses) keep the library's encoding.
- The recorders write, in the same transaction as the events, one row per event in
  `ledger_event_index`: the client it concerns, its valid time, its actor and command, and
  its **record time**, stamped by the store while it holds the write lock. Record times are
  therefore non-decreasing in commit order, so "as known at K" (I-9) never changes once K
  has passed, even with concurrent writers.
- `environment_for(url)` turns CONTRACT.md's database URLs into the library's settings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import get_topic, resolve_topic
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from ledger.errors import InvalidCommandError
from ledger.events import LedgerEvent

INDEX_TABLE = "ledger_event_index"
CREATE_TABLES_LOCK = 0x5E_D6E7  # advisory lock id: "support ledger" creating its tables
INDEX_COLUMNS = (
    "notification_id",
    "originator_id",
    "originator_version",
    "topic",
    "client_id",
    "valid_at",
    "recorded_at",
    "actor",
    "command_id",
)


# --- encoding ---------------------------------------------------------------------------


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class LedgerTranscoder(JSONTranscoder):
    """JSON with the value types the ledger uses (for snapshots; events are plain JSON)."""

    def __init__(self) -> None:
        super().__init__()
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
            self.register(transcoding)


@dataclass(frozen=True)
class IndexedStoredEvent(StoredEvent):
    """A stored event with the facts the record-time index keeps beside it."""

    client_id: str | None = None
    valid_at: datetime | None = None
    actor: str | None = None
    command_id: str | None = None


class LedgerMapper(Mapper[str]):
    """Pydantic events <-> stored events, with the upcaster chain on the way back."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if not isinstance(domain_event, LedgerEvent):
            return super().to_stored_event(domain_event)
        state = domain_event.model_dump(mode="json", exclude={"originator_id", "originator_version"})
        if domain_event.class_version > 1:
            state["class_version"] = domain_event.class_version
        return IndexedStoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=self._seal(self.transcoder.encode(state)),
            client_id=domain_event.client_id,
            valid_at=domain_event.valid_at,
            actor=domain_event.actor,
            command_id=domain_event.command_id,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = resolve_topic(stored_event.topic)
        if not (isinstance(cls, type) and issubclass(cls, LedgerEvent)):
            return super().to_domain_event(stored_event)
        state: dict[str, Any] = self.transcoder.decode(self._unseal(stored_event.state))
        version = state.pop("class_version", 1)
        while version < cls.class_version:
            getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        return cls.model_validate(state)

    def _seal(self, data: bytes) -> bytes:
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return data

    def _unseal(self, data: bytes) -> bytes:
        if self.cipher:
            data = self.cipher.decrypt(data)
        if self.compressor:
            data = self.compressor.decompress(data)
        return data


# --- the record-time index --------------------------------------------------------------


@dataclass(frozen=True)
class IndexRow:
    """What the store knows about one recorded event, besides its payload."""

    notification_id: int
    originator_id: str
    originator_version: int
    topic: str
    client_id: str | None
    valid_at: datetime
    recorded_at: datetime
    actor: str | None
    command_id: str | None
    state: bytes

    @property
    def event_id(self) -> str:
        """A stable, readable id: the aggregate's stream and the event's position in it."""
        return f"{self.originator_id}#{self.originator_version}"

    def stored_event(self) -> StoredEvent:
        return StoredEvent(self.originator_id, self.originator_version, self.topic, self.state)


@dataclass(frozen=True)
class IndexQuery:
    """Which recorded events to read. Every filter is optional; they combine with AND.
    Both recorders render the same conditions in their own SQL dialect."""

    client_id: str | None = None
    clients: Sequence[str] | None = None
    any_client: bool = False  # only events that concern some client
    stream: str | None = None
    streams: Sequence[str] | None = None
    stream_prefix: str | None = None  # e.g. "ticket/"
    excluded_prefixes: tuple[str, ...] = ()
    topic: str | None = None
    valid_from: datetime | None = None
    valid_before: datetime | None = None
    recorded_after: datetime | None = None
    recorded_lte: datetime | None = None
    with_state: bool = True

    def by_stream(self) -> bool:
        return any(column == "originator_id" for column, _, _ in self.conditions())

    def conditions(self) -> list[tuple[str, str, Any]]:
        """(column, operator, value) triples; operators: = <= > >= < in like not-like not-null."""
        found: list[tuple[str, str, Any]] = []
        optional = [
            ("client_id", "=", self.client_id),
            ("client_id", "in", None if self.clients is None else list(self.clients)),
            ("originator_id", "=", self.stream),
            ("originator_id", "in", None if self.streams is None else list(self.streams)),
            ("originator_id", "like", None if self.stream_prefix is None else self.stream_prefix + "%"),
            ("topic", "=", self.topic),
            ("valid_at", ">=", self.valid_from),
            ("valid_at", "<", self.valid_before),
            ("recorded_at", ">", self.recorded_after),
            ("recorded_at", "<=", self.recorded_lte),
        ]
        found += [condition for condition in optional if condition[2] is not None]
        found += [("originator_id", "not-like", prefix + "%") for prefix in self.excluded_prefixes]
        if self.any_client:
            found.append(("client_id", "not-null", None))
        return found


def _table_of(column: str) -> str:
    """Stream conditions are answered by the events table's own key (originator_id,
    originator_version), the rest by the index: the index needs no stream index of its own."""
    return "e" if column == "originator_id" else "i"


def _index_values(stored: StoredEvent, notification_id: int) -> tuple[Any, ...] | None:
    if not isinstance(stored, IndexedStoredEvent):
        return None
    return (
        notification_id,
        stored.originator_id,
        stored.originator_version,
        stored.topic,
        stored.client_id,
        stored.valid_at,
        stored.actor,
        stored.command_id,
    )


_TICK = timedelta(microseconds=1)  # record times strictly increase from one commit to the next


def _sqlite_time(instant: datetime) -> str:
    """Fixed-width UTC text, so that text order is time order in SQLite."""
    return instant.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _from_sqlite_time(text: str) -> datetime:
    return datetime.fromisoformat(text)  # Python 3.11 reads the trailing Z as UTC


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, plus the record-time index in the same transaction."""

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {INDEX_TABLE} ("
            "notification_id INTEGER PRIMARY KEY, originator_id TEXT NOT NULL, "
            "originator_version INTEGER NOT NULL, topic TEXT NOT NULL, client_id TEXT, "
            "valid_at TEXT NOT NULL, recorded_at TEXT NOT NULL, actor TEXT, command_id TEXT)",
            f"CREATE INDEX IF NOT EXISTS {INDEX_TABLE}_client "
            f"ON {INDEX_TABLE} (client_id, notification_id)",
            f"CREATE INDEX IF NOT EXISTS {INDEX_TABLE}_recorded ON {INDEX_TABLE} (recorded_at)",
            f"DROP INDEX IF EXISTS {INDEX_TABLE}_stream",  # stores made before streams used the events' key
            f"CREATE INDEX IF NOT EXISTS {INDEX_TABLE}_topic_valid ON {INDEX_TABLE} (topic, valid_at)",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        rows = [
            values
            for stored, n in zip(stored_events, notification_ids or (), strict=True)
            if (values := _index_values(stored, n)) is not None
        ]
        if rows:
            # The insert above holds SQLite's write lock: no other writer is between the
            # last record time and this one, so taking the max keeps them non-decreasing.
            c.execute(f"SELECT MAX(recorded_at) FROM {INDEX_TABLE}")
            last = c.fetchone()[0]
            now = datetime.now(timezone.utc)
            if last is not None:
                now = max(now, _from_sqlite_time(last) + _TICK)
            recorded_at = _sqlite_time(now)
            c.executemany(
                f"INSERT INTO {INDEX_TABLE} VALUES (?,?,?,?,?,?,?,?,?)",
                [(*r[:5], _sqlite_time(r[5]), recorded_at, *r[6:]) for r in rows],
            )
        return notification_ids

    def select_streams(self, streams: Sequence[str]) -> list[StoredEvent]:
        """Every event of the given aggregates, stream by stream, in version order."""
        found: list[StoredEvent] = []
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(streams), 500):
                chunk = streams[start : start + 500]
                c.execute(
                    f"SELECT * FROM {self.events_table_name} WHERE originator_id IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY originator_id, originator_version",
                    chunk,
                )
                found += [StoredEvent(r["originator_id"], r["originator_version"], r["topic"], r["state"])
                          for r in c.fetchall()]
        return found

    def client_ids(self, registered_topic: str) -> list[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT client_id FROM {INDEX_TABLE} WHERE topic = ? ORDER BY notification_id",
                [registered_topic],
            )
            return [row["client_id"] for row in c.fetchall()]

    def refresh_statistics(self, *, index_only: bool = False) -> None:
        """Nothing to do: SQLite picks the right indexes for these queries without statistics."""

    def last_recorded_at(self) -> datetime | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT MAX(recorded_at) FROM {INDEX_TABLE}")
            last = c.fetchone()[0]
        return None if last is None else _from_sqlite_time(last)

    def select_indexed(self, query: IndexQuery) -> list[IndexRow]:
        where, params = ["1=1"], []
        for column, operator, value in query.conditions():
            name = f"{_table_of(column)}.{column}"
            if isinstance(value, datetime):
                value = _sqlite_time(value)
            if operator == "in":
                where.append(f"{name} IN ({','.join('?' * len(value))})" if value else "0=1")
                params += value
            elif operator == "not-null":
                where.append(f"{name} IS NOT NULL")
            else:
                where.append(f"{name} {operator.replace('-', ' ').upper()} ?")
                params.append(value)
        state = ", e.state" if query.with_state else ""
        join = (f"JOIN {self.events_table_name} e ON e.rowid = i.notification_id "
                if query.with_state or query.by_stream() else "")
        statement = (
            f"SELECT i.*{state} FROM {INDEX_TABLE} i {join}"
            f"WHERE {' AND '.join(where)} ORDER BY i.notification_id"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            return [
                IndexRow(
                    notification_id=row["notification_id"],
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    client_id=row["client_id"],
                    valid_at=_from_sqlite_time(row["valid_at"]),
                    recorded_at=_from_sqlite_time(row["recorded_at"]),
                    actor=row["actor"],
                    command_id=row["command_id"],
                    state=row["state"] if query.with_state else b"",
                )
                for row in c.fetchall()
            ]


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder, plus the record-time index in the same transaction."""

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(self.datastore.schema)
        index = Identifier(INDEX_TABLE)
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{index} ("
                "notification_id bigint PRIMARY KEY, originator_id text NOT NULL, "
                "originator_version bigint NOT NULL, topic text NOT NULL, client_id text, "
                "valid_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL, "
                "actor text, command_id text)"
            ).format(schema=schema, index=index),
            # Keep planner statistics fresh while events pour in (as the library does for
            # its events table): stale ones make PostgreSQL AND in the record-time index and
            # scan all of it for an unselective "recorded at or before K".
            SQL(
                "ALTER TABLE {schema}.{index} SET (autovacuum_analyze_threshold = 1000, "
                "autovacuum_analyze_scale_factor = 0.01)"
            ).format(schema=schema, index=index),
            SQL(
                "CREATE INDEX IF NOT EXISTS {name} ON {schema}.{index} (client_id, notification_id)"
            ).format(name=Identifier(f"{INDEX_TABLE}_client"), schema=schema, index=index),
            SQL("CREATE INDEX IF NOT EXISTS {name} ON {schema}.{index} (recorded_at)").format(
                name=Identifier(f"{INDEX_TABLE}_recorded"), schema=schema, index=index
            ),
            SQL("CREATE INDEX IF NOT EXISTS {name} ON {schema}.{index} (topic, valid_at)").format(
                name=Identifier(f"{INDEX_TABLE}_topic_valid"), schema=schema, index=index
            ),
            # Stores made before stream queries used the events table's own key had this.
            SQL("DROP INDEX IF EXISTS {schema}.{name}").format(
                schema=schema, name=Identifier(f"{INDEX_TABLE}_stream")
            ),
        ]
        self._select_streams = SQL(
            "SELECT * FROM {schema}.{events} WHERE originator_id = ANY(%s) "
            "ORDER BY originator_id, originator_version"
        ).format(schema=schema, events=Identifier(self.events_table_name))
        self._select_client_ids = SQL(
            "SELECT client_id FROM {schema}.{index} WHERE topic = %s ORDER BY notification_id"
        ).format(schema=schema, index=index)
        self._select_last_recorded_at = SQL("SELECT MAX(recorded_at) AS last FROM {schema}.{index}").format(
            schema=schema, index=index
        )
        # One statement per transaction: the rows as one JSON array of arrays (psycopg's
        # array dumping costs about 9 µs a row in Python; json.dumps about 1), stamped with
        # one record time, later than every earlier one (still under the library's lock).
        self._insert_index_rows = SQL(
            "INSERT INTO {schema}.{index} SELECT (x->>0)::bigint, x->>1, (x->>2)::bigint, x->>3, "
            "x->>4, (x->>5)::timestamptz, "
            "(SELECT GREATEST(clock_timestamp(), MAX(recorded_at) + interval '1 microsecond') "
            "FROM {schema}.{index}), x->>6, x->>7 FROM json_array_elements(%s::json) AS x"
        ).format(schema=schema, index=index)
        self._select_indexed = SQL(
            "SELECT i.*, e.state FROM {schema}.{index} i "
            "JOIN {schema}.{events} e ON e.notification_id = i.notification_id "
        ).format(schema=schema, index=index, events=Identifier(self.events_table_name))
        self._select_index_only = SQL("SELECT i.* FROM {schema}.{index} i ").format(
            schema=schema, index=index
        )

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        # Two processes opening a new store at once would race on CREATE OR REPLACE
        # FUNCTION ("tuple concurrently updated"): take turns.
        curs.execute(SQL("SELECT pg_advisory_xact_lock(%s)"), [CREATE_TABLES_LOCK])
        super()._create_table(curs)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        rows = [
            values
            for stored, n in zip(stored_events, notification_ids or (), strict=True)
            if (values := _index_values(stored, n)) is not None
        ]
        if rows:
            # Still inside the EXCLUSIVE table lock the library takes for inserts, so
            # record times are non-decreasing in commit order.
            rows_json = json.dumps([(*r[:5], r[5].isoformat(), *r[6:]) for r in rows])
            curs.execute(self._insert_index_rows, [rows_json])
        return notification_ids

    def select_streams(self, streams: Sequence[str]) -> list[StoredEvent]:
        """Every event of the given aggregates, stream by stream, in version order."""
        if not streams:
            return []
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_streams, [list(streams)])
            return [StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
                    for r in curs.fetchall()]

    def client_ids(self, registered_topic: str) -> list[str]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_client_ids, [registered_topic])
            return [row["client_id"] for row in curs.fetchall()]

    def refresh_statistics(self, *, index_only: bool = False) -> None:
        """ANALYZE the ledger's tables: after a bulk load the planner otherwise misjudges
        how selective "recorded at or before K" is (autovacuum may be off or behind).
        `index_only` leaves the events table alone: ANALYZE's lock on it would make every
        writer wait (the library locks it for each insert), the index's lock does not."""
        tables = (INDEX_TABLE,) if index_only else (INDEX_TABLE, self.events_table_name)
        with self.datastore.transaction(commit=True) as curs:
            for table in tables:
                curs.execute(SQL("ANALYZE {schema}.{table}").format(
                    schema=Identifier(self.datastore.schema), table=Identifier(table)))

    def last_recorded_at(self) -> datetime | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._select_last_recorded_at)
            return curs.fetchone()["last"]  # type: ignore[index]

    def select_indexed(self, query: IndexQuery) -> list[IndexRow]:
        where, params = [SQL("TRUE")], []
        for column, operator, value in query.conditions():
            name = SQL(f"{_table_of(column)}.") + Identifier(column)
            if operator == "in":
                where.append(name + SQL(" = ANY(%s)"))
                params.append(value)
            elif operator == "not-null":
                where.append(name + SQL(" IS NOT NULL"))
            else:
                where.append(name + SQL(f" {operator.replace('-', ' ').upper()} %s"))
                params.append(value)
        select = self._select_indexed if query.with_state or query.by_stream() else self._select_index_only
        statement = select + SQL("WHERE ") + SQL(" AND ").join(where) + SQL(" ORDER BY i.notification_id")
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, params)
            return [IndexRow(**{**row, "state": bytes(row.get("state") or b"")}) for row in curs.fetchall()]


# --- database URLs ----------------------------------------------------------------------


def environment_for(url: str) -> dict[str, str]:
    """The eventsourcing settings for a CONTRACT.md database URL.

    `sqlite:///PATH` is the embedded store; `postgresql://USER[:PASSWORD]@HOST:PORT/DBNAME`
    the production store (trust auth needs no password). An optional `?schema=NAME` keeps
    the ledger's tables in that PostgreSQL schema (it must exist).
    """
    common = {
        "MAPPER_TOPIC": get_topic(LedgerMapper),
        "TRANSCODER_TOPIC": get_topic(LedgerTranscoder),
        "ORIGINATOR_ID_TYPE": "text",
    }
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise InvalidCommandError("sqlite URL needs a path: sqlite:///PATH", field="--db")
        return {
            **common,
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": get_topic(LedgerSQLiteRecorder),
        }
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlparse(url)
        dbname = parts.path.lstrip("/")
        try:
            port = parts.port or 5432
        except ValueError:
            raise InvalidCommandError(f"{url!r} has no valid port number", field="--db") from None
        if not (parts.hostname and dbname):
            raise InvalidCommandError(
                "PostgreSQL URL must be postgresql://USER@HOST:PORT/DBNAME", field="--db"
            )
        schema = parse_qs(parts.query).get("schema", [""])[0]
        return {
            **common,
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": parts.hostname,
            "POSTGRES_PORT": str(port),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_SCHEMA": schema,
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "APPLICATION_RECORDER_TOPIC": get_topic(LedgerPostgresRecorder),
        }
    raise InvalidCommandError(
        f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME",
        field="--db",
    )
