"""The ledger application: one store, the aggregates in it, and atomic saves.

Its methods follow the library's rhythm — get, act (in the command handlers), save — and
translate the library's errors into the ledger's own at this boundary.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, PersistenceError
from eventsourcing.utils import Environment

from ledger.aggregates import Catalog, Client, CommandReceipt, Invoice, Subscription, Ticket
from ledger.aggregates.base import LedgerAggregate, replay, stream_break
from ledger.errors import DamagedRecordError, LedgerError, NotFoundError
from ledger.events import LedgerEvent
from ledger.store.access import settings_for
from ledger.store.chain import Head, ReadHere, Verdict, verify
from ledger.store.index import IndexQuery, IndexRow, MarkRow, RecordTimeIndex
from ledger.store.upgrade import adopt_per_event_index
from ledger.store.urls import DEFAULT_DB_URL
from ledger.timeutil import in_moscow

A = TypeVar("A", bound=LedgerAggregate)


class ReadOnlyLedgerError(LedgerError):
    """A save asked of a ledger opened for reading only."""

    def __init__(self) -> None:
        super().__init__("the ledger was opened read-only: it answers queries, it cannot record", field="--db")


class ConcurrentWriteError(Exception):
    """Another writer saved one of the same aggregates first; the command can be retried."""


@dataclass(frozen=True)
class RecordedEvent:
    """An event as the store recorded it: the fact, plus when and by whom it was recorded."""

    event: LedgerEvent
    event_id: str
    notification_id: int
    recorded_at: datetime
    recorded_by: str | None = None  # the writer the store saw, which --actor cannot choose

    @property
    def type(self) -> str:
        return type(self.event).__name__


class AggregateAccess:
    """How handlers reach aggregates: by kind and natural key, with refusals that name the
    field. `find` is the one way in; the store-backed ledger and the batching working set
    (`commands.bus.WorkingSet`) each implement it."""

    def find(self, cls: type[A], key: str) -> A | None:
        raise NotImplementedError

    @property
    def store(self) -> SupportLedger:
        """The ledger itself, for reads that need the record (e.g. computing an invoice)."""
        raise NotImplementedError

    def get(self, cls: type[A], key: str, *, field: str, what: str) -> A:
        found = self.find(cls, key)
        if found is None:
            raise NotFoundError(f"unknown {what} {key!r}", field=field)
        return found

    def client(self, client_id: str) -> Client:
        return self.get(Client, client_id, field="client_id", what="client")

    def subscription(self, client_id: str) -> Subscription:
        return self.get(Subscription, client_id, field="client_id", what="client")

    def ticket(self, ticket_id: str) -> Ticket:
        return self.get(Ticket, ticket_id, field="ticket_id", what="ticket")

    def catalog(self) -> Catalog:
        return self.find(Catalog, Catalog.KEY) or Catalog.open()

    def receipt(self, command_id: str) -> CommandReceipt | None:
        return self.find(CommandReceipt, command_id)

    def invoice(self, client_id: str, period: str) -> Invoice | None:
        return self.find(Invoice, Invoice.key(client_id, period))


VERIFY_HELPER_AFTER = 50_000  # events in the log before verify reads payloads in a helper process too
STATISTICS_AFTER = 10_000  # events saved before planner statistics are first refreshed, then at each doubling


class SupportLedger(AggregateAccess, Application[str]):
    name = "SupportLedger"

    def __init__(self, url: str = DEFAULT_DB_URL, env: dict[str, str] | None = None, *, read_only: bool = False):
        """The ledger in the store at `url`. For writing (the default) the store, its tables
        and triggers are created where missing and an older store is upgraded. `read_only`:
        the store must be there, nothing is created or written, and a read-only store will
        do (`ledger.store.access`) — every query of the CLI opens the ledger so."""
        self.url, self.read_only = url, read_only
        super().__init__(env={**settings_for(url, read_only=read_only, application=self.name), **(env or {})})
        if not isinstance(self.recorder, RecordTimeIndex):
            raise TypeError(f"the ledger's recorder keeps no record-time index: {type(self.recorder).__qualname__}")
        self.index: RecordTimeIndex = self.recorder  # the recorder, as the ledger reads its store
        if read_only:
            self.index.open_read_only()
        else:
            adopt_per_event_index(self.index, self.mapper)
        self._saved = 0  # events this process has saved
        self._statistics_at = STATISTICS_AFTER  # refresh the planner's statistics there
        # The catalog's recorded events and its folds by how many of them were known
        # (projections.knowledge.catalog_known_at keeps them; the catalog seldom changes).
        self.catalog_events: list[RecordedEvent] = []
        self.catalog_folds: dict[int, Any] = {}

    def construct_env(self, name: str, env: dict[str, str] | None = None) -> Environment:  # type: ignore[override]
        """The library's settings: the process environment, then the ledger's own. The library
        reads a `SUPPORTLEDGER_`-prefixed variable before the plain one, so each of the
        ledger's settings is given under both names: none can be overridden from outside
        (e.g. `CREATE_TABLE` of a read-only ledger, or the library's insert function)."""
        pinned = dict(env or {})
        pinned.update({f"{name.upper()}_{key}": value for key, value in (env or {}).items()})
        return super().construct_env(name, pinned)

    # --- getting aggregates ---------------------------------------------------------------

    @property
    def store(self) -> SupportLedger:
        return self

    def find(self, cls: type[A], key: str) -> A | None:
        stream = cls.stream_for(key)
        return self.load_streams([stream]).get(stream)  # type: ignore[return-value]

    def load_streams(self, streams: Iterable[str]) -> dict[str, LedgerAggregate]:
        """Many aggregates in one read: those of `streams` that exist, by stream id."""
        stored = self.index.select_streams(sorted(set(streams)))
        return replay(map(self.mapper.to_domain_event, stored))

    # --- saving ---------------------------------------------------------------------------

    def save_atomically(self, *items: Any) -> None:
        """Save aggregates (or their events, in the order given) in one transaction, or none."""
        if self.read_only:
            raise ReadOnlyLedgerError
        events: list[Any] = []
        for item in items:  # cheaper than the library's runtime protocol checks in save()
            if isinstance(item, LedgerAggregate):
                events.extend(item.collect_events())
            else:
                events.append(item)
        # Straight to the recorder, as the library's EventStore.put does, without the
        # Recording and Notification it builds per event for followers and returns: the
        # ledger has no followers and takes no snapshots (about 2 µs an event).
        try:
            self.recorder.insert_events(list(map(self.mapper.to_stored_event, events)))
        except IntegrityError as error:
            raise ConcurrentWriteError(str(error)) from error
        self._saved += len(events)
        if self._saved >= self._statistics_at:
            # A bulk load outgrows the planner's picture of the tables (autovacuum may be off
            # or behind): without this, PostgreSQL plans "one client's events up to K" for
            # the small tables it last saw. Each time the events this process saved have
            # doubled, the statistics are refreshed; ANALYZE holds back other writers for
            # its sampling (0.24 s of it on the events table at 1M events), a few times
            # per bulk load. The events are saved already: a failure here may slow later
            # reads, never undo the save.
            self._statistics_at = 2 * self._saved
            with contextlib.suppress(PersistenceError):
                self.refresh_statistics()

    # --- reading the record ---------------------------------------------------------------

    def recorded_events(
        self,
        query: IndexQuery | None = None,
        *,
        client_id: str | None = None,
        stream: str | None = None,
        known_at: datetime | None = None,
    ) -> list[RecordedEvent]:
        """Events in record order — optionally only one client's or one aggregate's (or
        whatever `query` selects) — and only those recorded at or before `known_at` (I-9)."""
        query = query or IndexQuery()
        query = replace(
            query,
            client_id=client_id or query.client_id,
            stream=stream or query.stream,
            recorded_lte=None if known_at is None else in_moscow(known_at),  # naive = Moscow
        )
        rows = self.index.select_indexed(query)
        if query.recorded_after is None:
            _check_streams(rows)
        return [self._decode(row) for row in rows]

    def reading(self) -> contextlib.AbstractContextManager[None]:
        """Several reads in one transaction (on PostgreSQL: one connection, fewer round trips)."""
        return self.index.reading()

    def marked(self, mark: str, *, clients: list[str] | None = None,
               known_at: datetime | None = None) -> list[MarkRow]:
        """The aggregates the record-time index has marked `mark` (`LedgerEvent.index_marks`),
        of `clients` if given, as known at K, in record order; no payload is read."""
        return self.index.select_marks(
            mark, clients=clients, known_at=None if known_at is None else in_moscow(known_at))

    def client_facts(self, after: datetime, upto: datetime) -> dict[str, list[tuple[datetime, datetime, str]]]:
        """(record time, valid time, topic) of every client's events recorded after `after`
        and at or before `upto`, by client: one scan of that stretch of the log."""
        facts: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
        for client_id, stored, recorded_at in self.index.select_client_facts(in_moscow(after), in_moscow(upto)):
            facts[client_id].append((recorded_at, self.mapper.valid_at_of(stored), stored.topic))
        return facts

    def refresh_statistics(self) -> None:
        """Let the database re-estimate its tables (worth it after a bulk load)."""
        self.index.refresh_statistics()

    def client_ids(self) -> list[str]:
        """Every registered client, in registration (record) order."""
        return self.index.client_ids()

    def last_recorded_at(self) -> datetime | None:
        """The record time of the newest event: every later commit is recorded after it."""
        return self.index.last_recorded_at()

    def position_at(self, known_at: datetime) -> int:
        """N(K): the log position of the last event recorded at or before K (0: none); every
        event at a position up to it was recorded at or before K, and no other."""
        return self.index.position_at(in_moscow(known_at))

    def stream_clients(self, streams: list[str]) -> dict[str, str]:
        """The client each of these aggregates concerns, for those that exist (no payload is read)."""
        return self.index.stream_clients(streams) if streams else {}

    def stream_version(self, stream: str) -> int:
        """How many events the aggregate `stream` has (0: none)."""
        return self.index.stream_version(stream)

    def _decode(self, row: IndexRow) -> RecordedEvent:
        event: Any = self.mapper.to_domain_event(row.stored_event())
        return RecordedEvent(event, row.event_id, row.notification_id, row.recorded_at, row.recorded_by)

    # --- the record's integrity -----------------------------------------------------------

    def head(self) -> Head:
        """The hash chain's head (ledger.store.chain): one small query."""
        return self.index.head()

    def verify(self, expect: str | None = None, *, helper: bool | None = None) -> Verdict:
        """Re-hash every link of the chain against the whole log, in one snapshot of the
        store. The payloads are read in a helper process too (`ledger.store.payloads`)
        when the log is long enough to repay starting one (`helper`: decide here)."""
        index = self.index
        with index.snapshot():
            head = index.head()
            if helper is None:
                helper = head.events >= VERIFY_HELPER_AFTER
            if helper:
                from ledger.store.payloads import ReadElsewhere  # a helper process: only verify needs it

                payloads = ReadElsewhere(self.mapper.read)
            else:
                payloads = ReadHere(self.mapper.read)
            try:
                return verify(head, index.links(), index.commit_rows(), index.log_pages(), payloads,
                              index.mark_rows, expect)
            finally:
                payloads.close()


def _check_streams(rows: list[IndexRow]) -> None:
    """Each stream read whole must run 1, 2, 3 … in record order; a gap is a damaged record."""
    last: dict[str, int] = {}
    for row in rows:
        expected = last.get(row.originator_id, 0) + 1
        if type(row.originator_version) is not int:
            raise DamagedRecordError(f"{row.originator_id}#{row.originator_version!r}", "its version is not a number")
        if row.originator_version != expected:
            raise stream_break(row.originator_id, expected, row.originator_version)
        last[row.originator_id] = expected
