"""The register of issued invoices (I-9): a materialised view, kept exactly once.

Finance asks "which invoices were issued, for what, as known at K?" without replaying the
ledger. The register is a projection in the library's sense (`eventsourcing.projection`):
it folds the ledger's `InvoiceIssued` events into one row per issued invoice, in a table
of the ledger's own store, and records how far it has read the ledger's log (a `Tracking`
position, in the library's tracking table) in the same transaction as the rows. So each
event is counted exactly once, also when two processes catch up at once or one stops
midway: the second to commit a position finds it taken and rolls its rows back.

SQLite cannot push new events to a reader, so the register catches up by pulling — on
both stores, before every query — a page of the log per transaction. A row keeps its
event's position in the log, so "as known at K" is "position up to N(K)" (the record-time
index's `position_at`), and an answer for a past K never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import singledispatchmethod
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier

from ledger.application import SupportLedger
from ledger.events import REGISTERED_MARK, InvoiceIssued
from ledger.timeutil import in_moscow
from projections.knowledge import unknown_client

REGISTER_TABLE = "ledger_issued_invoices"
PAGE = 10_000  # log positions read, and rows written, per transaction while catching up


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
        event_id=f"{event.originator_id}#{event.originator_version}", notification_id=notification_id,
    )


# --- the view: the register's table beside the library's tracking table --------------------


class RegisterView(TrackingRecorder):
    """What both stores share: rows and position written in one transaction, and reads."""

    table: str
    param: str
    datastore: Any

    def record(self, rows: list[RegisterRow], tracking: Tracking) -> None:
        """Add rows and move the position on, in one transaction; IntegrityError if another
        reader has already recorded this position (then nothing is added)."""
        with self.datastore.transaction(commit=True) as cursor:
            if rows:
                placeholders = ", ".join([self.param] * 7)
                cursor.executemany(f"INSERT INTO {self.table} VALUES ({placeholders})",
                                   [self._values(row) for row in rows])
            self._insert_tracking(cursor, tracking)  # type: ignore[attr-defined]

    def select(self, *, upto: int, period: str | None = None, client_id: str | None = None) -> list[RegisterRow]:
        """The rows of events at positions up to `upto`, in the order they were recorded."""
        where, params = [f"notification_id <= {self.param}"], [upto]
        for column, value in (("period", period), ("client_id", client_id)):
            if value is not None:
                where.append(f"{column} = {self.param}")
                params.append(value)
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM {self.table} WHERE {' AND '.join(where)} ORDER BY notification_id",
                           params)
            return [self._row(found) for found in cursor.fetchall()]

    def _values(self, row: RegisterRow) -> tuple[Any, ...]:
        raise NotImplementedError

    def _row(self, found: Any) -> RegisterRow:
        raise NotImplementedError


class SQLiteRegisterView(RegisterView, SQLiteTrackingRecorder):
    """Money as decimal text and instants as ISO text with their offset: read back exactly."""

    table, param = REGISTER_TABLE, "?"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(),
                f"CREATE TABLE IF NOT EXISTS {self.table} (client_id TEXT NOT NULL, period TEXT NOT NULL, "
                "total TEXT NOT NULL, issued_at TEXT NOT NULL, computed_as_known_at TEXT NOT NULL, "
                "event_id TEXT NOT NULL, notification_id INTEGER NOT NULL, PRIMARY KEY (client_id, period))",
                f"CREATE INDEX IF NOT EXISTS {self.table}_by_position ON {self.table} (notification_id)"]

    def _values(self, row: RegisterRow) -> tuple[Any, ...]:
        return (row.client_id, row.period, str(row.total), row.issued_at.isoformat(),
                row.computed_as_known_at.isoformat(), row.event_id, row.notification_id)

    def _row(self, found: Any) -> RegisterRow:
        return RegisterRow(found["client_id"], found["period"], Decimal(found["total"]),
                           in_moscow(datetime.fromisoformat(found["issued_at"])),
                           in_moscow(datetime.fromisoformat(found["computed_as_known_at"])),
                           found["event_id"], found["notification_id"])


class PostgresRegisterView(RegisterView, PostgresTrackingRecorder):
    param = "%s"

    def __init__(self, datastore: Any):
        super().__init__(datastore, tracking_table_name=f"{REGISTER_TABLE}_tracking")
        self.table = Identifier(datastore.schema, REGISTER_TABLE).as_string(None)
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {table} (client_id text NOT NULL, period text NOT NULL, "
                "total numeric NOT NULL, issued_at timestamptz NOT NULL, computed_as_known_at timestamptz NOT NULL, "
                "event_id text NOT NULL, notification_id bigint NOT NULL, PRIMARY KEY (client_id, period))"
                ).format(table=Identifier(datastore.schema, REGISTER_TABLE)),
            SQL("CREATE INDEX IF NOT EXISTS {index} ON {table} (notification_id)").format(
                index=Identifier(f"{REGISTER_TABLE}_by_position"), table=Identifier(datastore.schema, REGISTER_TABLE)),
        ]

    def _values(self, row: RegisterRow) -> tuple[Any, ...]:
        return (row.client_id, row.period, row.total, row.issued_at, row.computed_as_known_at,
                row.event_id, row.notification_id)

    def _row(self, found: Any) -> RegisterRow:
        return RegisterRow(found["client_id"], found["period"], found["total"], in_moscow(found["issued_at"]),
                           in_moscow(found["computed_as_known_at"]), found["event_id"], found["notification_id"])


# --- the projection --------------------------------------------------------------------------


class IssuedInvoiceRegister(Projection[RegisterView]):
    """The register of the ledger's issued invoices, in the ledger's store."""

    name = "issued_invoice_register"
    topics = (get_topic(InvoiceIssued),)

    def __init__(self, ledger: SupportLedger):
        datastore = ledger.recorder.datastore  # type: ignore[attr-defined]
        view = SQLiteRegisterView(datastore) if ledger.recorder.dialect.sqlite else PostgresRegisterView(datastore)  # type: ignore[attr-defined]
        view.create_table()
        super().__init__(view)
        self.ledger = ledger

    @property
    def position(self) -> int:
        """The last position of the ledger's log the register has read (0: none)."""
        return self.view.max_tracking_id(self.ledger.name) or 0  # type: ignore[attr-defined, no-any-return]

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """One event, as the library's projection runner hands them over: an event the
        register does not list only moves its position on."""
        self.view.record([], tracking)

    @process_event.register
    def _(self, domain_event: InvoiceIssued, tracking: Tracking) -> None:
        self.view.record([row_of(domain_event, tracking.notification_id)], tracking)

    def catch_up(self) -> int:
        """Read the log past the register's position, a page per transaction; the position
        reached. A page another reader recorded first is skipped."""
        recorder: Any = self.ledger.recorder
        last, position = recorder.max_notification_id() or 0, self.position
        while position < last:
            page = recorder.select_notifications(position + 1, PAGE, stop=last, topics=self.topics)
            upto = page[-1].id if len(page) == PAGE else last
            rows = [row_of(self.ledger.mapper.to_domain_event(notification), notification.id) for notification in page]
            try:
                self.view.record(rows, Tracking(self.ledger.name, upto))
            except IntegrityError:
                moved_on = self.position
                if moved_on <= position:
                    raise  # not another reader: the rows themselves were refused
                position = moved_on
            else:
                position = upto
        return position


def issued_invoices(ledger: SupportLedger, known_at: datetime, *, period: str | None = None,
                    client_id: str | None = None) -> list[RegisterRow]:
    """The invoices issued as known at K (of one period or client, if given), in the order
    they were recorded; the register catches up first."""
    register = IssuedInvoiceRegister(ledger)
    position = register.catch_up()
    return register.view.select(upto=min(position, ledger.position_at(known_at)), period=period, client_id=client_id)


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
