"""The register of issued invoices (I-9): a materialised view, kept exactly once.

Finance asks "which invoices were issued, for what, as known at K?" without replaying the
ledger. The register is a projection in the library's sense (`eventsourcing.projection`):
it folds the ledger's `InvoiceIssued` events into one row per issued invoice, in a table
of the ledger's own store, and keeps how far it has read the ledger's log (a `Tracking`
position) in a table beside it. A reader moves the position on only from where it
started, in the transaction that adds the rows it read: so each event is counted exactly
once, also when two processes catch up at once or one stops midway — the reader that
commits second finds the position moved, adds nothing, and goes on from there.

SQLite cannot push new events to a reader, so the register catches up by pulling — on
both stores, before every query of a ledger opened for writing — a page of the log per
transaction. A ledger opened for reading only (every query of the CLI: a query never
writes a store) catches up in memory instead: the table's rows as far as its position
goes, if there is a table, then the same fold over the events recorded after it. A row
keeps its event's position in the log, so "as known at K" is "position up to N(K)" (the
record-time index's `position_at`), and an answer for a past K never changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import singledispatchmethod
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from ledger.application import SupportLedger
from ledger.events import REGISTERED_MARK, InvoiceIssued, event_id
from ledger.timeutil import in_moscow
from projections.knowledge import unknown_client

REGISTER_TABLE = "ledger_issued_invoices"
TRACKING_TABLE = f"{REGISTER_TABLE}_tracking"
PAGE = 10_000  # InvoiceIssued events read, and rows written, per transaction while catching up


@dataclass(frozen=True)
class RegisterRow:
    """One issued invoice: whose, for which period, its total, and the event behind it."""

    client_id: str
    period: str
    total: Decimal
    issued_at: datetime  # valid time: when it was issued
    computed_as_known_at: datetime  # the record time its lines were computed as known at
    event_id: str
    notification_id: int  # the event's position in the ledger's log

    def document(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "period": self.period, "total": f"{self.total:.2f}",
                "issued_at": self.issued_at.isoformat(),
                "computed_as_known_at": self.computed_as_known_at.isoformat(), "event_id": self.event_id}


def row_of(event: InvoiceIssued, notification_id: int) -> RegisterRow:
    """The register's fold: an issued invoice's row, from its event alone."""
    return RegisterRow(
        client_id=event.client_id, period=event.period, total=event.total,  # type: ignore[arg-type]
        issued_at=in_moscow(event.at), computed_as_known_at=in_moscow(event.known_at),
        event_id=event_id(event.originator_id, event.originator_version), notification_id=notification_id,
    )


# --- the view: the register's rows and its position, in the ledger's store ------------------


class RegisterView(TrackingRecorder):
    """The register's table and its tracking table, beside the ledger's own tables and
    spelled by the ledger's `Dialect`. The position moves on only from where the reader
    that moves it started, in the transaction that adds that reader's rows: so a reader
    overtaken by another adds nothing, whatever its rows (the table's key on client and
    period is a second guard, not the first)."""

    def __init__(self, ledger: SupportLedger):
        self.store, self.dialect = ledger.index, ledger.index.dialect  # the ledger's store, through its index
        self.table, self.tracking_table = (self.store.table_name(name) for name in (REGISTER_TABLE, TRACKING_TABLE))
        self.index = f"{REGISTER_TABLE}_by_position"  # unqualified: an index lives in its table's schema
        self.application_name = ledger.name

    # --- tables ----------------------------------------------------------------------------

    def create_table(self) -> None:
        """Create the tables once, with the position at 0: a store that has them is not
        written to (a query need not wait for the write lock); PostgreSQL's creators take
        turns under the ledger's own lock for creating tables."""
        if self.exists():
            return
        d = self.dialect
        money, instant, position, p = d.money_type, d.time_type, d.integer_type, d.param
        with self.store.transaction(commit=True) as cursor:
            if d.take_turns_creating_tables(cursor) and self.exists(cursor):
                return  # another reader created them while this one waited
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (client_id text NOT NULL, period text NOT NULL, "
                           f"total {money} NOT NULL, issued_at {instant} NOT NULL, "
                           f"computed_as_known_at {instant} NOT NULL, event_id text NOT NULL, "
                           f"notification_id {position} NOT NULL, PRIMARY KEY (client_id, period))")
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {self.index} ON {self.table} (notification_id)")
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {self.tracking_table} (application_name text PRIMARY KEY, "
                           f"notification_id {position} NOT NULL)")
            cursor.execute(f"INSERT INTO {self.tracking_table} VALUES ({p}, 0) ON CONFLICT DO NOTHING",
                           [self.application_name])

    def exists(self, cursor: Any = None) -> bool:
        """Whether the tracking table (created last, with the rest) is there."""
        statement, params = self.dialect.has_table(self.tracking_table)
        if cursor is None:
            return bool(self.store.rows(statement, params)[0]["n"])
        cursor.execute(statement, params)
        return bool(cursor.fetchone()["n"])

    # --- the position (the library's TrackingRecorder) ---------------------------------------

    def max_tracking_id(self, application_name: str) -> int | None:
        found = self.store.rows(f"SELECT notification_id FROM {self.tracking_table} "
                                f"WHERE application_name = {self.dialect.param}", [application_name])
        return int(found[0]["notification_id"]) if found else None

    def insert_tracking(self, tracking: Tracking) -> None:
        """Move the position on to `tracking`, from wherever it is now, adding no rows."""
        self.record([], self.max_tracking_id(tracking.application_name) or 0, tracking)

    # --- rows --------------------------------------------------------------------------------

    def record(self, rows: list[RegisterRow], start: int, tracking: Tracking) -> None:
        """Move the position from `start` to `tracking` and add the rows read in between,
        in one transaction; IntegrityError, and nothing added, if the position is no longer
        `start` (another reader recorded those positions first)."""
        p = self.dialect.param
        with self.store.transaction(commit=True) as cursor:
            cursor.execute(f"UPDATE {self.tracking_table} SET notification_id = {p} WHERE application_name = {p} "
                           f"AND notification_id = {p} RETURNING notification_id",
                           [tracking.notification_id, tracking.application_name, start])
            if cursor.fetchone() is None:
                raise IntegrityError(f"the register's position is no longer {start}")
            if rows:
                cursor.executemany(f"INSERT INTO {self.table} VALUES ({', '.join([p] * 7)})",
                                   [self._values(row) for row in rows])

    def select(self, *, upto: int, period: str | None = None, client_id: str | None = None) -> list[RegisterRow]:
        """The rows of events at positions up to `upto`, in the order they were recorded."""
        p = self.dialect.param
        where: list[str] = [f"notification_id <= {p}"]
        params: list[Any] = [upto]
        for column, value in (("period", period), ("client_id", client_id)):
            if value is not None:
                where.append(f"{column} = {p}")
                params.append(value)
        statement = f"SELECT * FROM {self.table} WHERE {' AND '.join(where)} ORDER BY notification_id"
        return [self._row(found) for found in self.store.rows(statement, params)]

    def _values(self, row: RegisterRow) -> tuple[Any, ...]:
        time = self.dialect.time
        return (row.client_id, row.period, self.dialect.money(row.total),
                time(row.issued_at), time(row.computed_as_known_at), row.event_id, row.notification_id)

    def _row(self, found: Any) -> RegisterRow:
        instant = self.dialect.from_time
        return RegisterRow(found["client_id"], found["period"], Decimal(found["total"]),
                           in_moscow(instant(found["issued_at"])), in_moscow(instant(found["computed_as_known_at"])),
                           found["event_id"], found["notification_id"])


# --- the projection --------------------------------------------------------------------------


class IssuedInvoiceRegister(Projection[RegisterView]):
    """The register of the ledger's issued invoices, in the ledger's store."""

    topics = (get_topic(InvoiceIssued),)

    def __init__(self, ledger: SupportLedger):
        view = RegisterView(ledger)
        view.create_table()
        super().__init__(view)
        self.ledger = ledger

    @property
    def position(self) -> int:
        """The last position of the ledger's log the register has read (0: none)."""
        return self.view.max_tracking_id(self.ledger.name) or 0

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """One event, as the library's projection runner hands them over: an event the
        register does not list only moves its position on."""
        self.view.record([], self.position, tracking)

    @process_event.register
    def _(self, domain_event: InvoiceIssued, tracking: Tracking) -> None:
        self.view.record([row_of(domain_event, tracking.notification_id)], self.position, tracking)

    def catch_up(self) -> int:
        """Read the log past the register's position, a page per transaction, up to its end
        as it was when catching up began; the position reached. Where another reader has
        recorded positions first, go on from where it got to."""
        index = self.ledger.index
        last, position = index.max_notification_id() or 0, self.position
        while position < last:
            page = index.select_notifications(position + 1, PAGE, stop=last, topics=self.topics)
            upto = page[-1].id if len(page) == PAGE else last
            rows = [row_of(self.ledger.mapper.to_domain_event(notification), notification.id) for notification in page]
            try:
                self.view.record(rows, position, Tracking(self.ledger.name, upto))
            except IntegrityError:
                moved_on = self.position
                if moved_on == position:
                    raise  # no other reader moved it: the rows themselves were refused
                position = moved_on
            else:
                position = upto
        return position


def issued_invoices(ledger: SupportLedger, known_at: datetime, *, period: str | None = None,
                    client_id: str | None = None) -> list[RegisterRow]:
    """The invoices issued as known at K (of one period or client, if given), in the order
    they were recorded. N(K) is read first: the register then catches up to the end of the
    log as it is after that, which holds every event recorded at or before K — in its
    table, or, for a ledger opened for reading only, in memory (`read_without_writing`)."""
    known = ledger.position_at(known_at)
    if ledger.read_only:
        return read_without_writing(ledger, known, period=period, client_id=client_id)
    register = IssuedInvoiceRegister(ledger)
    register.catch_up()
    return register.view.select(upto=known, period=period, client_id=client_id)


def read_without_writing(ledger: SupportLedger, upto: int, *, period: str | None = None,
                         client_id: str | None = None) -> list[RegisterRow]:
    """The register's rows of events at positions up to `upto`, writing nothing: the
    table's rows as far as its position goes (none without a table), then the fold of the
    `InvoiceIssued` events recorded after that position. The table's rows up to its
    position never change once there, so reading the position first and the rows then is
    consistent without a snapshot."""
    view = RegisterView(ledger)
    position, rows = 0, []
    if view.exists():
        position = view.max_tracking_id(ledger.name) or 0
        rows = view.select(upto=min(upto, position), period=period, client_id=client_id)
    rows += [row for row in _folded(ledger, after=position, upto=upto)
             if period in (None, row.period) and client_id in (None, row.client_id)]
    return rows


def _folded(ledger: SupportLedger, *, after: int, upto: int) -> Iterator[RegisterRow]:
    """The register's fold over the events at positions after `after`, up to `upto`, a page at a time."""
    while after < upto:
        page = ledger.index.select_notifications(after + 1, PAGE, stop=upto, topics=IssuedInvoiceRegister.topics)
        yield from (row_of(ledger.mapper.to_domain_event(notification), notification.id) for notification in page)
        if len(page) < PAGE:
            return
        after = page[-1].id


def register_document(ledger: SupportLedger, known_at: datetime, *, period: str | None = None,
                      client_id: str | None = None) -> dict[str, Any]:
    """The register as one JSON document: the invoices, how many, and their sum. A client
    not registered as known at K is refused, as every query of one client does."""
    if client_id is not None and not ledger.marked(REGISTERED_MARK, clients=[client_id], known_at=known_at):
        raise unknown_client(client_id, known_at)
    rows = issued_invoices(ledger, known_at, period=period, client_id=client_id)
    return {"known_at": in_moscow(known_at).isoformat(), "period": period, "client_id": client_id,
            "invoices": [row.document() for row in rows], "count": len(rows),
            "total": f"{sum((row.total for row in rows), Decimal('0.00')):.2f}"}
