"""How events reach the store and come back: the mapper, upcasting, exact money, the
record-time index, and the database URLs of CONTRACT.md."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent
from eventsourcing.utils import get_topic

import ledger.events as events_module
from ledger.aggregates import Client
from ledger.application import SupportLedger
from ledger.errors import InvalidCommandError
from ledger.events import REGISTERED_MARK, STREAM_MARK, ClientRegistered, LedgerCreated, LedgerEvent, work_mark
from ledger.store.dialects import SQLiteDialect
from ledger.store.index import IndexQuery
from ledger.store.mapper import IndexedStoredEvent, LedgerMapper, LedgerTranscoder
from ledger.store.postgres import LedgerPostgresRecorder
from ledger.store.settings import environment_for
from ledger.store.sqlite import LedgerSQLiteFactory, LedgerSQLiteRecorder
from ledger.store.upgrade import adopt_per_event_index
from projections.history import client_history
from tests.builders import (
    BUG_FACTS,
    assign_engineer,
    cancel,
    classify,
    confirm_bug,
    correct_time,
    end_pilot,
    finish_implementation,
    hand_over_key,
    issue,
    issue_license,
    log,
    open_ticket,
    override_day,
    price_list,
    register,
    register_configuration,
    reject_bug,
    release,
    reopen,
    resolve,
    respond,
    start_implementation,
    start_pilot,
    subscribe,
    void_time,
)
from tests.integrity_support import drop_triggers
from tests.support import apply, applied, event_count, event_types

MOSCOW = ZoneInfo("Europe/Moscow")


def stored_state(ledger, stream: str, version: int) -> dict:
    """The JSON a stored event holds, read straight from the store."""
    [stored] = ledger.recorder.select_events(stream, gt=version - 1, lte=version)
    return json.loads(stored.state)


# --- upcasting --------------------------------------------------------------------------------


def insert_v1_client_registered(ledger, client_id: str, timestamp: datetime) -> None:
    """A ClientRegistered as written before class_version 2: no class_version, no registered_at."""
    state = {
        "timestamp": timestamp.isoformat(),
        "client_id": client_id,
        "actor": "migrator",
        "command_id": None,
        "originator_topic": get_topic(Client),
        "name": "Old Client",
    }
    assert ledger.mapper.compressor is None and ledger.mapper.cipher is None
    ledger.recorder.insert_events([IndexedStoredEvent(
        originator_id=Client.stream_for(client_id),
        originator_version=1,
        topic=get_topic(ClientRegistered),
        state=ledger.mapper.transcoder.encode(state),
        client_id=client_id,
        marks=(STREAM_MARK, REGISTERED_MARK),
    )])


def test_client_registered_is_version_2_with_an_upcaster():
    assert ClientRegistered.class_version == 2
    assert callable(getattr(ClientRegistered, "upcast_v1_v2", None))


def test_a_v1_client_registered_is_read_back_with_registered_at_its_timestamp(ledger):
    produced = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    insert_v1_client_registered(ledger, "old", produced)

    client = ledger.client("old")
    assert client.name == "Old Client" and client.client_id == "old"
    assert client.registered_at == produced
    assert client.version == 1

    [recorded] = ledger.recorded_events(client_id="old")
    assert recorded.type == "ClientRegistered"
    assert recorded.event.registered_at == produced
    assert recorded.event.valid_at == produced
    assert recorded.event.actor == "migrator"
    [row] = client_history(ledger, "old", datetime.now(timezone.utc))["events"]
    assert datetime.fromisoformat(row["valid_at"]) == produced


def test_a_v1_client_keeps_working_after_upcasting(ledger):
    insert_v1_client_registered(ledger, "old", datetime(2024, 5, 6, 10, 0, tzinfo=MOSCOW))
    applied(ledger, issue_license("L1", "2024-06-01", client_id="old"))
    assert event_types(ledger, "old") == ["ClientRegistered", "LicenseIssued"]
    assert ledger.client("old").version == 2
    assert stored_state(ledger, "client/old", 1).get("class_version") is None  # never rewritten


def test_new_client_registered_is_stored_as_version_2(ledger):
    applied(ledger, register("acme", "2025-01-10T09:00"))
    state = stored_state(ledger, "client/acme", 1)
    assert state["class_version"] == 2
    assert datetime.fromisoformat(state["registered_at"]) == datetime(2025, 1, 10, 9, 0, tzinfo=MOSCOW)
    # registered_at is the valid time and is not replaced by the production timestamp
    assert ledger.client("acme").registered_at == datetime(2025, 1, 10, 9, 0, tzinfo=MOSCOW)
    assert "class_version" not in stored_state(ledger, "priority/acme", 1)


# --- the mapper round-trips every event type ------------------------------------------------------

# One valid sequence of every CONTRACT.md command, recording every event type; the first
# four are the catalog's facts and acme's registration (the tests below slice it).
EVERY_COMMAND = [
    release(),
    price_list("2024-01-01", norm_hour="1500.00", priority_month="30000.00"),
    override_day("2025-12-31"),
    {**register(), "command_id": "k1"},
    issue_license(),
    hand_over_key(),
    start_implementation("2025-01-20T10:00"),
    finish_implementation("2025-02-20T10:00"),
    register_configuration("PC1", "2025-01-20T10:00"),
    start_pilot("P1", "2025-02-01T10:00"),
    end_pilot("P1", "2025-02-10T10:00"),
    assign_engineer("petrov", "2025-01-15T10:00"),
    subscribe("S1", "2025-02-15T10:00"),
    cancel("S1", "2025-02-25T10:00"),
    open_ticket("T1", "bug", at="2025-03-03T11:00"),
    respond("T1", "2025-03-03T11:30"),
    confirm_bug("T1", "2025-03-03T12:00"),
    log("T1", "E1", "2025-03-03T12:00", 50, "bug_fix"),
    correct_time("T1", "E1", 40, "typo"),
    log("T1", "E2", "2025-03-03T14:00", 20, "remote_session", "diagnostics"),
    void_time("T1", "E2", "duplicate"),
    resolve("T1", "2025-03-04T12:00"),
    reopen("T1", "2025-03-05T12:00"),
    open_ticket("T2", "question", at="2025-03-03T11:00", channel="portal", facts=BUG_FACTS),
    classify("T2", "bug", "2025-03-03T12:00", "looks like a bug"),
    reject_bug("T2", "environment", "2025-03-04T12:00", "antivirus"),
    issue("2025-03", "2025-04-01T10:00"),
]


def concrete_event_classes() -> set[str]:
    return {
        name for name, cls in vars(events_module).items()
        if isinstance(cls, type) and issubclass(cls, LedgerEvent)
        and cls.__module__ == events_module.__name__ and cls not in (LedgerEvent, LedgerCreated)
    }


def test_every_event_type_survives_the_store_unchanged(ledger, monkeypatch):
    """Each event as the aggregates produced it equals the event read back from the store."""
    produced: list[LedgerEvent] = []
    to_stored = ledger.mapper.to_stored_event

    def capture(event):
        produced.append(event)
        return to_stored(event)

    monkeypatch.setattr(ledger.mapper, "to_stored_event", capture)
    applied(ledger, *EVERY_COMMAND)
    read_back = [r.event for r in ledger.recorded_events()]

    assert {type(e).__name__ for e in read_back} == concrete_event_classes()
    assert len(read_back) == len(produced)
    for before, after in zip(produced, read_back, strict=True):
        assert type(after) is type(before)
        assert after == before, type(before).__name__
        assert _typed_fields(after) == _typed_fields(before), type(before).__name__


def _typed_fields(event):
    """Each field's value with its type (a date is not a datetime, 1 is not "1"), and a
    time's offset: what `==` alone would let pass."""
    values = {field.name: getattr(event, field.name) for field in msgspec.structs.fields(event)}
    return {name: (type(value), value, value.utcoffset() if isinstance(value, datetime) else None)
            for name, value in values.items()}


def _as_json(value):
    """A field value as the store writes it (ledger.store.mapper's module docstring)."""
    if isinstance(value, datetime) and value.utcoffset() == timedelta(0):
        return value.replace(tzinfo=None).isoformat() + "Z"  # UTC as `Z`, as pydantic wrote it
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def test_the_mapper_round_trips_every_event_type_in_memory(ledger):
    applied(ledger, *EVERY_COMMAND)
    mapper = ledger.mapper
    seen = set()
    for recorded in ledger.recorded_events():
        event = recorded.event
        stored = mapper.to_stored_event(event)
        assert isinstance(stored, IndexedStoredEvent)
        assert stored.topic == f"ledger.events:{type(event).__name__}"
        assert stored.client_id == event.client_id
        # the index marks only what concerns a client (catalog facts and receipts: nothing)
        assert stored.marks == (event.index_marks() if event.client_id is not None else ())
        state = json.loads(stored.state)  # plain JSON of the fields
        assert ("class_version" in state) == (type(event).class_version > 1)
        fields = {field.name: _as_json(getattr(event, field.name)) for field in msgspec.structs.fields(event)
                  if field.name not in ("originator_id", "originator_version")}
        assert {k: v for k, v in state.items() if k != "class_version"} == fields
        assert mapper.to_domain_event(stored) == event
        seen.add(type(event).__name__)
    assert seen == concrete_event_classes()


def test_stored_events_are_found_by_topic_in_the_events_module():
    for name in concrete_event_classes():
        assert get_topic(getattr(events_module, name)) == f"ledger.events:{name}"


# --- money ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("norm_hour", "priority_month"), [
    ("0.10", "0.01"),
    ("1234567890.12", "99999999999.99"),
    ("1500.00", "30000.50"),
])
def test_decimal_money_survives_exactly(ledger, norm_hour, priority_month):
    applied(ledger, price_list("2025-01-01", norm_hour=norm_hour, priority_month=priority_month))
    [published] = [r.event for r in ledger.recorded_events() if r.type == "PriceListPublished"]
    for value, text in ((published.norm_hour, norm_hour), (published.priority_month, priority_month)):
        assert isinstance(value, Decimal)
        assert value == Decimal(text) and str(value) == text  # not a float, not re-scaled
    assert ledger.catalog().price_lists[published.effective_from] == (Decimal(norm_hour), Decimal(priority_month))
    state = stored_state(ledger, "catalog/main", 2)
    assert (state["norm_hour"], state["priority_month"]) == (norm_hour, priority_month)  # strings in JSON


def test_money_is_kept_in_kopecks_whatever_its_spelling(ledger):
    """CONTRACT.md: money has two places; "1500" and "30000.5" are 1500.00 and 30000.50."""
    applied(ledger, price_list("2025-01-01", norm_hour="1500", priority_month="30000.5"))
    [published] = [r.event for r in ledger.recorded_events() if r.type == "PriceListPublished"]
    assert (str(published.norm_hour), str(published.priority_month)) == ("1500.00", "30000.50")
    state = stored_state(ledger, "catalog/main", 2)
    assert (state["norm_hour"], state["priority_month"]) == ("1500.00", "30000.50")


def test_issued_invoice_total_survives_as_a_decimal(ledger):
    applied(ledger, *EVERY_COMMAND)
    [issued] = [r.event for r in ledger.recorded_events() if r.type == "InvoiceIssued"]
    assert isinstance(issued.total, Decimal)
    assert ledger.invoice("acme", "2025-03").total == issued.total
    assert issued.total == sum((Decimal(line["amount"]) for line in issued.lines), Decimal("0"))


# --- the record-time index -----------------------------------------------------------------------


def test_every_event_is_indexed_with_its_facts(ledger):
    before = datetime.now(timezone.utc)
    apply(ledger, *EVERY_COMMAND[:6], actor="dora")
    after = datetime.now(timezone.utc) + timedelta(seconds=1)
    recorded = ledger.recorded_events()
    assert [r.notification_id for r in recorded] == sorted({r.notification_id for r in recorded})
    for r in recorded:
        assert r.event_id == f"{r.event.originator_id}#{r.event.originator_version}"
        assert before - timedelta(seconds=1) <= r.recorded_at <= after
        assert r.event.actor == "dora"
    times = [r.recorded_at for r in recorded]
    assert times == sorted(times)
    assert [r.event_id for r in ledger.recorded_events(stream="client/acme")] == [
        "client/acme#1", "client/acme#2", "client/acme#3"]


def test_record_times_strictly_increase_between_commits(ledger):
    """One record time per commit, later for every later commit (so K between two commits
    separates them)."""
    commands = EVERY_COMMAND[:8]
    applied(ledger, *commands)
    times_in_order = []
    for r in ledger.recorded_events():
        if not times_in_order or times_in_order[-1] != r.recorded_at:
            times_in_order.append(r.recorded_at)
    assert len(times_in_order) == len(commands)
    assert all(a < b for a, b in zip(times_in_order, times_in_order[1:]))


def test_the_recorder_numbers_a_transactions_events_in_the_order_given(ledger):
    """The ledger's recorders insert a transaction's events in one statement (SQLite:
    executemany, the ids derived from the last rowid; PostgreSQL: column arrays) and must
    still return each event's own notification id, as the record-time index relies on."""
    applied(ledger, *EVERY_COMMAND[:3])  # so that the ids do not start at 1
    before = ledger.recorder.max_notification_id()
    keys = [("test/b", 1), ("test/a", 1), ("test/b", 2), ("test/c", 1), ("test/a", 2)]
    stored = [StoredEvent(stream, version, "tests:Probe", b'{"n":%d}' % n) for n, (stream, version) in enumerate(keys)]
    ids = ledger.recorder.insert_events(stored)
    found = ledger.recorder.select_notifications(before + 1, limit=10)
    assert [(n.originator_id, n.originator_version, n.state) for n in found] == [
        (s.originator_id, s.originator_version, s.state) for s in stored]
    assert list(ids) == [n.id for n in found]
    with pytest.raises(IntegrityError):  # a version taken: nothing of the transaction is kept
        ledger.recorder.insert_events([StoredEvent("test/d", 1, "tests:Probe", b"{}"), stored[0]])
    assert ledger.recorder.max_notification_id() == max(ids)


def test_a_stream_prefix_selects_exactly_the_clients_aggregates_that_start_with_it(ledger):
    """`IndexQuery.stream_prefix` (how an invoice finds a client's issued invoices) means
    "starts with", exactly: no case folding and no wildcards, whatever the store."""
    streams = ["inv/1", "inv/2", "inv/\U0010ffff", "inv", "inv0", "inv.", "INV/3", "in_/4", "in%/5", "invoice/6",
               "inv/\U0010ffff/7", "inv/\ud7ff/8", "inv/\ud7ffx"]
    ledger.recorder.insert_events([IndexedStoredEvent(stream, 1, "tests:Probe", b"{}", client_id="c9",
                                                      marks=(STREAM_MARK,)) for stream in streams])

    def starting_with(prefix: str) -> list[str]:
        return sorted(row.originator_id for row in ledger.index.select_indexed(
            IndexQuery(clients=["c9"], stream_prefix=prefix)))

    assert starting_with("inv/") == sorted(s for s in streams if s.startswith("inv/"))
    assert starting_with("in_/") == ["in_/4"]
    assert starting_with("in%") == ["in%/5"]
    assert starting_with("inv") == sorted(s for s in streams if s.startswith("inv"))
    # prefixes that end in a character with no next one to bound a range by
    assert starting_with("inv/\U0010ffff") == ["inv/\U0010ffff", "inv/\U0010ffff/7"]
    assert starting_with("inv/\ud7ff") == ["inv/\ud7ff/8", "inv/\ud7ffx"]
    assert starting_with("") == sorted(streams)
    with pytest.raises(ValueError, match="give client_id or clients"):
        ledger.index.select_indexed(IndexQuery(streams=[], stream_prefix="inv/"))


def test_sqlite_refuses_a_transaction_whose_events_did_not_each_make_a_row(tmp_path, monkeypatch):
    """The SQLite ids are derived from the last rowid, which holds only if every event made
    one new row: were the insert ever to skip one, nothing is recorded."""
    ledger = SupportLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        ledger.recorder.insert_events([StoredEvent("test/a", 1, "tests:Probe", b"{}")])
        statement = ledger.recorder.insert_events_statement
        monkeypatch.setattr(ledger.recorder, "insert_events_statement", statement.replace("INSERT", "INSERT OR IGNORE", 1))
        with pytest.raises(PersistenceError, match="changed 1 rows"):
            ledger.recorder.insert_events([StoredEvent("test/b", 1, "tests:Probe", b"{}"),
                                           StoredEvent("test/a", 1, "tests:Probe", b"{}")])
        assert ledger.recorder.max_notification_id() == 1
    finally:
        ledger.close()


def test_sqlite_connections_keep_the_statements_they_prepared(tmp_path):
    """The library opens its SQLite connections with a cache of one prepared statement, so
    queries taking turns were compiled every time (`StatementCachingSQLiteConnectionPool`).
    SQLite lists a connection's prepared statements in `sqlite_stmt`."""
    ledger = SupportLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    statements = [f"SELECT {n} AS n" for n in range(1, 6)]
    try:
        with ledger.recorder.datastore.transaction(commit=False) as cursor:
            for statement in statements:
                cursor.execute(statement)
            try:
                cursor.execute("SELECT sql FROM sqlite_stmt")
            except PersistenceError:
                pytest.skip("this SQLite was built without the sqlite_stmt table (SQLITE_ENABLE_STMTVTAB)")
            prepared = {row[0] for row in cursor.fetchall()}
    finally:
        ledger.close()
    assert set(statements) <= prepared


# --- database URLs -------------------------------------------------------------------------------


def test_environment_for_sqlite():
    env = environment_for("sqlite:///ledger.db")
    assert env["PERSISTENCE_MODULE"] == get_topic(LedgerSQLiteFactory)
    assert env["SQLITE_DBNAME"] == "ledger.db"
    assert env["APPLICATION_RECORDER_TOPIC"] == get_topic(LedgerSQLiteRecorder)
    assert env["MAPPER_TOPIC"] == get_topic(LedgerMapper)
    assert env["TRANSCODER_TOPIC"] == get_topic(LedgerTranscoder)
    assert environment_for("sqlite:////var/lib/ledger.db")["SQLITE_DBNAME"] == "/var/lib/ledger.db"


def test_environment_for_postgres_with_trust_auth():
    env = environment_for("postgresql://postgres@127.0.0.1:5432/test")
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert env["APPLICATION_RECORDER_TOPIC"] == get_topic(LedgerPostgresRecorder)
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("postgres", "")
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == ("127.0.0.1", "5432", "test")
    assert env["POSTGRES_SCHEMA"] == ""


def test_environment_for_postgres_with_password_schema_and_defaults():
    env = environment_for("postgresql://ledger:p%40ss%3Aword@db.example.org:6543/books?schema=billing")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("ledger", "p@ss:word")
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == ("db.example.org", "6543", "books")
    assert env["POSTGRES_SCHEMA"] == "billing"
    short = environment_for("postgres://db.example.org/books")
    assert (short["POSTGRES_PORT"], short["POSTGRES_USER"], short["POSTGRES_DBNAME"]) == ("5432", "postgres", "books")


@pytest.mark.parametrize("url", [
    "", "mysql://u@h/db", "sqlite://ledger.db", "sqlite:///", "postgresql://db.example.org",
    "postgresql:///books", "ledger.db",
])
def test_a_bad_database_url_is_refused_naming_db(url):
    with pytest.raises(InvalidCommandError) as raised:
        environment_for(url)
    assert raised.value.field == "--db" and str(raised.value).startswith("--db:")


@pytest.mark.parametrize("url", ["postgresql://u@h:abc/db", "postgresql://u@h:99999/db"])
def test_a_bad_port_is_refused_naming_db(url):
    with pytest.raises(InvalidCommandError) as raised:
        environment_for(url)
    assert raised.value.field == "--db"


def test_opening_a_ledger_on_a_bad_url_is_refused_naming_db():
    with pytest.raises(InvalidCommandError, match=r"^--db:"):
        SupportLedger("mysql://u@h/db")


def test_the_index_marks_each_aggregate_once_from_its_first_event_as_known_at_k(ledger):
    """The record-time index keeps one row per commit and one per (aggregate, mark): a
    client's aggregates, its registration, and each period a ticket has work in (I-4),
    noted with the first event that carried the mark; as known at K (I-9) it shows only
    what was recorded by then."""
    applied(ledger, *EVERY_COMMAND[:4])  # catalog facts, then acme registered
    applied(ledger, open_ticket("T1", "question", at="2025-03-03T11:00"))
    work = [log("T1", f"E{n}", started, 30, "consultation")
            for n, started in enumerate(["2025-03-31T23:30", "2025-03-05T10:00", "2025-04-01T00:10"])]
    applied(ledger, *work[:2])
    march_only = ledger.last_recorded_at()
    applied(ledger, work[2])

    assert ledger.client_ids() == ["acme"]
    assert {row.originator_id for row in ledger.marked(STREAM_MARK, clients=["acme"])} == {
        "client/acme", "priority/acme", "ticket/T1"}
    first_in_march = next(r.notification_id for r in ledger.recorded_events(stream="ticket/T1")
                          if r.type == "TimeLogged")
    [march] = ledger.marked(work_mark("2025-03"), clients=["acme"])
    assert (march.originator_id, march.client_id, march.notification_id) == ("ticket/T1", "acme", first_in_march)
    # 2025-04-01T00:10 Moscow is still 31 March in UTC: the period is the Moscow month
    [april] = ledger.marked(work_mark("2025-04"))
    assert april.notification_id > march.notification_id
    assert ledger.marked(work_mark("2025-04"), known_at=march_only) == []
    assert ledger.marked(work_mark("2025-03"), known_at=march_only) == [march]
    assert ledger.marked(work_mark("2025-03"), clients=["beta"]) == []
    # every event, and only those, recorded by K is "as known at K"
    before = ledger.recorded_events(known_at=march_only)
    assert before == ledger.recorded_events()[:-1]  # only the April entry came after


def make_it_a_store_with_the_per_event_index(ledger) -> None:
    """Turn the ledger's store into one as written before `ledger_commits` existed: the old
    table, as that version created it and filled it, and no commits or marks."""
    d = ledger.index.dialect
    old, p = ledger.index.table_name("ledger_event_index"), d.param
    recorded = ledger.recorded_events()
    with ledger.recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(
            f"CREATE TABLE {old} (notification_id BIGINT PRIMARY KEY, originator_id TEXT NOT NULL, "
            f"originator_version BIGINT NOT NULL, topic TEXT NOT NULL, client_id TEXT, "
            f"valid_at {d.time_type} NOT NULL, recorded_at {d.time_type} NOT NULL, actor TEXT, command_id TEXT)")
        for r in recorded:
            cursor.execute(f"INSERT INTO {old} VALUES ({','.join([p] * 9)})", [
                r.notification_id, r.event.originator_id, r.event.originator_version, get_topic(type(r.event)),
                r.event.client_id, d.time(r.event.valid_at), d.time(r.recorded_at), r.event.actor,
                r.event.command_id])
        for statement in drop_triggers(isinstance(d, SQLiteDialect), [d.events, d.commits, d.marks, d.chain]):
            cursor.execute(statement)  # that version had no triggers and no chain
        cursor.execute(f"DELETE FROM {d.chain}")  # (the open ledger reads it; opening creates it anyway)
        cursor.execute(f"DELETE FROM {d.commits}")
        cursor.execute(f"DELETE FROM {d.marks}")


def test_a_store_with_the_per_event_index_gets_its_record_times_and_marks_on_opening(ledger, db_url):
    """Stores written before `ledger_commits` kept a `ledger_event_index` row per event.
    Opened now, they answer exactly as before: same events, same record times (I-9),
    same marks."""
    applied(ledger, *EVERY_COMMAND)
    before = ledger.recorded_events()
    marks = {mark: ledger.marked(mark) for mark in (STREAM_MARK, REGISTERED_MARK, work_mark("2025-03"))}
    make_it_a_store_with_the_per_event_index(ledger)
    assert ledger.recorded_events(known_at=before[-1].recorded_at) == []  # nothing known without them

    with SupportLedger(db_url) as reopened:
        # The same, but for who wrote them, which that version did not keep.
        assert reopened.recorded_events() == [dataclasses.replace(r, recorded_by=None) for r in before]
        assert {mark: reopened.marked(mark) for mark in marks} == marks
        assert adopt_per_event_index(reopened.index, reopened.mapper) is False  # once only
        verdict = reopened.verify()  # and its chain is built from what it holds
        assert verdict.ok and verdict.head.events == len(before) and verdict.chain_starts_at > before[-1].notification_id


def test_opening_an_old_store_waits_while_another_process_holds_the_write_lock(tmp_path):
    """Another process upgrading a large old store holds SQLite's write lock for longer than
    the lock timeout: opening waits for it and tries again, instead of failing."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with SupportLedger(url) as ledger:
        applied(ledger, *EVERY_COMMAND)
        before = ledger.recorded_events()
        make_it_a_store_with_the_per_event_index(ledger)
    holder = sqlite3.connect(tmp_path / "old.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, as an upgrade in progress holds it
    releaser = threading.Timer(1.5, holder.execute, ["COMMIT"])
    releaser.start()
    try:
        with SupportLedger(url, env={"SQLITE_LOCK_TIMEOUT": "1"}) as reopened:
            assert reopened.recorded_events() == [dataclasses.replace(r, recorded_by=None) for r in before]
    finally:
        releaser.join()
        holder.close()


def test_the_ledger_keeps_its_tables_where_the_url_says(ledger, db_url):
    applied(ledger, EVERY_COMMAND[3])
    if db_url.startswith("sqlite:///"):
        assert Path(db_url.removeprefix("sqlite:///")).is_file()
        return
    schema = db_url.rsplit("schema=", 1)[1]
    with psycopg.connect(db_url.split("?")[0]) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema])}
        assert {"ledger_commits", "ledger_stream_marks"} <= tables and len(tables) >= 3
        commits = conn.execute(f'SELECT count(*) FROM "{schema}".ledger_commits').fetchone()[0]
        marks = conn.execute(f'SELECT mark FROM "{schema}".ledger_stream_marks ORDER BY mark').fetchall()
    assert commits == 1  # one command, one transaction
    # the client's two aggregates (client, priority account) and its registration
    assert [mark for (mark,) in marks] == [REGISTERED_MARK, STREAM_MARK, STREAM_MARK]


def test_planner_statistics_are_refreshed_as_saves_grow_the_store(ledger, db_url):
    """A bulk apply outgrows the planner's picture of the tables: each time the ledger has
    saved as much again, it refreshes PostgreSQL's statistics (SQLite needs none)."""
    ledger._statistics_at = 4  # instead of 10,000 events
    applied(ledger, *EVERY_COMMAND[:8])
    if db_url.startswith("sqlite:///"):
        assert event_count(ledger) >= 8
        return
    schema = db_url.rsplit("schema=", 1)[1]
    with psycopg.connect(db_url.split("?")[0]) as conn:
        analyzed = conn.execute(
            "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = 'ledger_commits'", [schema]).fetchone()[0]
    assert analyzed > 0  # -1 until the table is first analyzed


def test_a_failing_statistics_refresh_never_fails_a_save(ledger, monkeypatch):
    from eventsourcing.persistence import OperationalError

    def refuse(**_: object) -> None:
        raise OperationalError("ANALYZE refused")

    monkeypatch.setattr(ledger, "refresh_statistics", refuse)
    ledger._statistics_at = 1
    outcomes = apply(ledger, *EVERY_COMMAND[:3])
    assert [o.status for o in outcomes] == ["applied"] * 3
    assert event_count(ledger) >= 3


def test_a_sqlite_ledger_loads_no_postgresql_driver(tmp_path):
    """The PostgreSQL recorder is named by topic: a SQLite ledger (a CLI call, an apply
    worker) does not pay for importing the driver."""
    import subprocess
    import sys

    code = ("import sys; from ledger.application import SupportLedger; import commands.bus; "
            f"SupportLedger('sqlite:///{tmp_path / 'l.db'}').close(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'psycopg', 'psycopg_pool'} "
            "or m == 'eventsourcing.postgres'))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    assert loaded == "[]"


def test_environment_for_refuses_unknown_url_parameters_naming_them():
    assert environment_for("sqlite:///ledger.db?mode=ro")["SQLITE_DBNAME"] == "ledger.db"
    for url, named in (("sqlite:///ledger.db?schema=x", "schema"), ("postgresql://u@h/db?schem=x", "schem")):
        with pytest.raises(InvalidCommandError, match=f"^--db: unknown URL parameter '{named}'"):
            environment_for(url)


@pytest.mark.parametrize("variable", ["SUPPORTLEDGER_CREATE_TABLE", "CREATE_TABLE"])
def test_the_environment_cannot_make_a_read_only_ledger_create_its_tables(db_url, monkeypatch, variable):
    """The library reads its settings from the environment, a prefixed variable first: the
    ledger's own settings are given under both names."""
    with SupportLedger(db_url) as ledger:
        applied(ledger, EVERY_COMMAND[3])
    with SupportLedger(db_url, read_only=True) as reader:
        assert reader.env.get("CREATE_TABLE") == "n"
    monkeypatch.setenv(variable, "y")
    monkeypatch.setenv("SUPPORTLEDGER_POSTGRES_ENABLE_DB_FUNCTIONS", "y")
    with SupportLedger(db_url, read_only=True) as reader:
        assert reader.env.get("CREATE_TABLE") == "n"
        if not db_url.startswith("sqlite:"):  # a setting of the PostgreSQL store only
            assert reader.env.get("POSTGRES_ENABLE_DB_FUNCTIONS") == "n"
        assert event_types(reader, EVERY_COMMAND[3]["client_id"])


def test_a_read_only_sqlite_ledger_loads_no_postgresql_driver_either(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "l.db"
    SupportLedger(f"sqlite:///{path}").close()
    code = ("import sys; from ledger.application import SupportLedger; "
            f"SupportLedger('sqlite:///{path}', read_only=True).close(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'psycopg', 'psycopg_pool'}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    assert loaded == "[]"
