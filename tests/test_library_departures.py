"""Each departure from the eventsourcing library (9.5.x) that ledger/store/README.md lists,
pinned: these tests fail, naming the departure, when an upgrade of the library removes or
renames what the ledger relies on. Read ledger/store/README.md before changing either."""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest
from pydantic import TypeAdapter, ValidationError
from eventsourcing.application import Application
from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    EventStore,
    InfrastructureFactory,
    JSONTranscoder,
    Mapper,
    TrackingRecorder,
)
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteFactory,
)
from eventsourcing.utils import Environment

from commands.models import COMMAND_MODELS, AnyCommand, CommandAdapter
from ledger.application import SupportLedger
from ledger.events import TimeLogged
from ledger.store.index import RecordTimeIndex
from ledger.store.mapper import LedgerMapper, LedgerTranscoder
from ledger.store.settings import environment_for
from ledger.store.sqlite import (
    CheckpointingSQLiteRecorder,
    ExecutemanySQLiteRecorder,
    LedgerSQLiteFactory,
    LedgerSQLiteRecorder,
    StatementCachingSQLiteConnectionPool,
)
from ledger.timeutil import MOSCOW

PAGE = "ledger/store/README.md"
SQLITE_URL = "sqlite:///ledger.db"
POSTGRES_URL = "postgresql://writer:secret@db.example:5432/ledger?schema=acct"


def departure(name: str, what: str) -> str:
    return f"library departure '{name}' ({PAGE}): {what}"


def parameters(function: Any) -> list[tuple[str, Any]]:
    """A function's parameter names and kinds (annotations are strings here and vary)."""
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


P, K, VK = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD


def assert_overrides(ledger_class: type, base: type, method: str, expected: list[tuple[str, Any]], name: str) -> None:
    assert method in base.__dict__, departure(name, f"{base.__module__}.{base.__qualname__}.{method} is gone; "
                                                    f"{ledger_class.__qualname__} overrides it")
    found = parameters(base.__dict__[method])
    assert found == expected, departure(
        name, f"{base.__qualname__}.{method} now takes {found}, the ledger's override expects {expected}")


# --- 1. settings fixed in code -------------------------------------------------------------------


def _library_setting_names() -> set[str]:
    from eventsourcing.postgres import BasePostgresFactory

    names: set[str] = set()
    for cls in (InfrastructureFactory, SQLiteFactory, BasePostgresFactory):
        for klass in cls.__mro__:
            names |= {v for k, v in vars(klass).items() if k.isupper() and isinstance(v, str) and k == v}
    return names


@pytest.mark.parametrize("url", [SQLITE_URL, POSTGRES_URL])
def test_every_setting_the_ledger_pins_is_still_a_setting_the_library_reads(url):
    """A setting the library renamed would be ignored silently: the ledger would run on the
    library's default (e.g. its insert function on, bypassing the chain)."""
    known = _library_setting_names()
    unknown = sorted(set(environment_for(url)) - known)
    assert not unknown, departure("settings fixed in code", f"the library no longer names the settings {unknown}")
    assert "CREATE_TABLE" in known, departure("read-only: CREATE_TABLE off", "the library no longer reads CREATE_TABLE")


def test_the_library_still_reads_the_environment_prefixed_variable_first():
    """`SupportLedger.construct_env` gives each pinned setting under the plain and the
    `SUPPORTLEDGER_`-prefixed name, because the library's Environment reads the prefixed one first."""
    assert Environment("SupportLedger", {}).create_keys("CREATE_TABLE") == ["SUPPORTLEDGER_CREATE_TABLE", "CREATE_TABLE"], \
        departure("settings fixed in code", "eventsourcing.utils.Environment.create_keys changed its lookup order")
    assert_overrides(SupportLedger, Application, "construct_env", [("self", P), ("name", P), ("env", P)],
                     "settings fixed in code")


@pytest.mark.parametrize("url", [SQLITE_URL, POSTGRES_URL])
@pytest.mark.parametrize("prefix", ["", "SUPPORTLEDGER_"])
def test_the_ledgers_settings_win_over_the_environment(monkeypatch, url, prefix):
    """The library reads os.environ too (`Application.construct_env`); each variable set
    here says the opposite of the ledger's setting, and the ledger's wins."""
    pinned = {**environment_for(url), "CREATE_TABLE": "n"}
    for key, value in pinned.items():
        monkeypatch.setenv(prefix + key, "y" if value == "n" else "hostile")
    unbuilt = object.__new__(SupportLedger)  # construct_env alone: no store is opened
    env = unbuilt.construct_env(SupportLedger.name, pinned)
    overridden = {key: env.get(key) for key, value in pinned.items() if env.get(key) != value}
    assert not overridden, departure("settings fixed in code", f"the environment overrode {overridden}")
    # and the environment does reach the library where the ledger pins nothing: the check above is not vacuous
    monkeypatch.setenv(prefix + "SQLITE_LOCK_TIMEOUT", "999")
    assert Application.construct_env(unbuilt, SupportLedger.name, {}).get("SQLITE_LOCK_TIMEOUT") == "999", \
        departure("settings fixed in code", "Application.construct_env no longer reads os.environ: recheck the pin")


def test_the_library_still_switches_its_insert_function_by_postgres_enable_db_functions():
    pytest.importorskip("psycopg")
    from eventsourcing.postgres import BasePostgresFactory, PostgresApplicationRecorder, PostgresDatastore

    assert BasePostgresFactory.POSTGRES_ENABLE_DB_FUNCTIONS == "POSTGRES_ENABLE_DB_FUNCTIONS"
    assert "enable_db_functions" in inspect.signature(PostgresDatastore).parameters, \
        departure("POSTGRES_ENABLE_DB_FUNCTIONS off", "PostgresDatastore no longer takes enable_db_functions")
    assert "self.datastore.enable_db_functions" in inspect.getsource(PostgresApplicationRecorder.insert_events), \
        departure("POSTGRES_ENABLE_DB_FUNCTIONS off", "PostgresApplicationRecorder.insert_events no longer checks it")
    assert environment_for(POSTGRES_URL)["POSTGRES_ENABLE_DB_FUNCTIONS"] == "n"


def test_the_library_honours_the_topics_the_ledger_names(tmp_path):
    """MAPPER_TOPIC, TRANSCODER_TOPIC, PERSISTENCE_MODULE (a factory class by topic) and
    APPLICATION_RECORDER_TOPIC: the library must still build what they name."""
    ledger = SupportLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        built = {"factory": type(ledger.factory), "mapper": type(ledger.mapper),
                 "transcoder": type(ledger.mapper.transcoder), "recorder": type(ledger.recorder),
                 "pool": type(ledger.recorder.datastore.pool)}
    finally:
        ledger.close()
    assert built == {"factory": LedgerSQLiteFactory, "mapper": LedgerMapper, "transcoder": LedgerTranscoder,
                     "recorder": LedgerSQLiteRecorder, "pool": StatementCachingSQLiteConnectionPool}, \
        departure("settings fixed in code", f"the library built {built}")


# --- 2. the mapper and transcoder ----------------------------------------------------------------


def test_the_mapper_overrides_what_the_library_calls():
    name = "LedgerMapper"
    assert_overrides(LedgerMapper, Mapper, "to_stored_event", [("self", P), ("domain_event", P)], name)
    assert_overrides(LedgerMapper, Mapper, "to_domain_event", [("self", P), ("stored_event", P)], name)
    mapper = Mapper(transcoder=LedgerTranscoder())
    missing = [a for a in ("transcoder", "compressor", "cipher") if not hasattr(mapper, a)]
    assert not missing, departure(name, f"Mapper no longer has {missing} (LedgerMapper._seal/_unseal read them)")
    assert callable(getattr(JSONTranscoder, "register", None)), departure("LedgerTranscoder", "JSONTranscoder.register is gone")


# --- 3. SQLite ------------------------------------------------------------------------------------

# The library's SQLiteConnectionPool._create_connection as of 9.5.6, which
# StatementCachingSQLiteConnectionPool._create_connection copies with one change
# (cached_statements=STATEMENT_CACHE_SIZE instead of True).
LIBRARY_CREATE_CONNECTION_DIGEST = "ea2ed023f7152fabe7ce1b888b10f7a29c1ce2b9e485590ce20037255248185a"


def _normalised_source(function: Any) -> str:
    code = inspect.getsource(function)
    code = re.sub(r"#.*", "", code)
    return " ".join(code.split())


def test_the_statement_caching_pool_still_copies_the_librarys_connection():
    """The ledger opens SQLite connections itself; README: "An upgrade of eventsourcing must
    check that its connections need nothing more". If this digest changed, compare the
    library's `_create_connection` with the ledger's and update both the copy and the digest."""
    name = "StatementCachingSQLiteConnectionPool"
    assert_overrides(StatementCachingSQLiteConnectionPool, SQLiteConnectionPool, "_create_connection", [("self", P)], name)
    digest = hashlib.sha256(_normalised_source(SQLiteConnectionPool._create_connection).encode()).hexdigest()
    assert digest == LIBRARY_CREATE_CONNECTION_DIGEST, departure(
        name, f"eventsourcing.sqlite.SQLiteConnectionPool._create_connection changed (digest {digest})")
    pool = SQLiteConnectionPool(db_name=":memory:", lock_timeout=7)
    missing = [a for a in ("db_name", "lock_timeout", "max_age", "is_sqlite_memory_mode", "is_journal_mode_wal",
                           "journal_mode_was_changed_to_wal") if not hasattr(pool, a)]
    assert not missing, departure(name, f"SQLiteConnectionPool no longer has {missing}")
    assert [n for n, _ in parameters(SQLiteConnection)] == ["sqlite_conn", "max_age"], \
        departure(name, "SQLiteConnection's constructor changed")


def test_the_ledgers_factory_replaces_the_librarys_pool(tmp_path):
    name = "LedgerSQLiteFactory"
    env = Environment("SupportLedger", {"SQLITE_DBNAME": str(tmp_path / "l.db"), "SQLITE_LOCK_TIMEOUT": "30"})
    shipped = SQLiteFactory(env)
    assert isinstance(getattr(shipped.datastore, "pool", None), SQLiteConnectionPool), \
        departure(name, "SQLiteFactory().datastore.pool is no longer the library's SQLiteConnectionPool")
    ours = LedgerSQLiteFactory(env)
    pool = ours.datastore.pool
    assert isinstance(pool, StatementCachingSQLiteConnectionPool) and (pool.db_name, pool.lock_timeout) == (
        str(tmp_path / "l.db"), 30), departure(name, "the pool's settings were not carried over")
    shipped.close()
    ours.close()


def test_the_sqlite_recorders_override_the_librarys_steps():
    steps = [("self", P), ("c", P), ("stored_events", P), ("_", inspect.Parameter.VAR_KEYWORD)]
    assert_overrides(ExecutemanySQLiteRecorder, SQLiteApplicationRecorder, "_insert_events", steps,
                     "ExecutemanySQLiteRecorder / CheckpointingSQLiteRecorder / LedgerSQLiteRecorder._insert_events")
    assert_overrides(ExecutemanySQLiteRecorder, SQLiteAggregateRecorder, "_insert_events", steps,
                     "ExecutemanySQLiteRecorder (calls SQLiteAggregateRecorder._insert_events by name)")
    assert "executemany" in inspect.getsource(SQLiteAggregateRecorder._insert_events), departure(
        "ExecutemanySQLiteRecorder", "SQLiteAggregateRecorder._insert_events no longer inserts with one executemany")
    for method, expected in (("construct_create_table_statements", [("self", P)]), ("create_table", [("self", P)]),
                             ("_create_table", [("self", P), ("c", P)])):
        owner = next(k for k in SQLiteApplicationRecorder.__mro__ if method in k.__dict__)
        assert_overrides(LedgerSQLiteRecorder, owner, method, expected, f"LedgerSQLiteRecorder.{method}")
    assert LedgerSQLiteRecorder.__mro__.index(CheckpointingSQLiteRecorder) < LedgerSQLiteRecorder.__mro__.index(
        ExecutemanySQLiteRecorder) < LedgerSQLiteRecorder.__mro__.index(SQLiteApplicationRecorder), \
        departure("LedgerSQLiteRecorder", "the bases' order changed")


def test_the_record_time_index_is_the_librarys_application_recorder(tmp_path):
    """`SupportLedger.index` is the recorder typed as a `RecordTimeIndex`, itself the library's
    `ApplicationRecorder`: the library's recorders must still implement what the register
    reads through it, ahead of the abstract methods in the recorder's bases."""
    name = "RecordTimeIndex(ApplicationRecorder)"
    assert issubclass(SQLiteApplicationRecorder, ApplicationRecorder), \
        departure(name, "SQLiteApplicationRecorder is no longer an ApplicationRecorder")
    assert_overrides(RecordTimeIndex, ApplicationRecorder, "select_notifications",
                     [("self", P), ("start", P), ("limit", P), ("stop", P), ("topics", P),
                      ("inclusive_of_start", K)], name)
    assert_overrides(RecordTimeIndex, ApplicationRecorder, "max_notification_id", [("self", P)], name)
    for method in ("insert_events", "select_notifications", "max_notification_id"):
        owner = next(k for k in LedgerSQLiteRecorder.__mro__ if method in k.__dict__)
        assert owner.__module__ == "eventsourcing.sqlite", departure(name, f"{method} now comes from {owner}")
    ledger = SupportLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        assert ledger.index is ledger.recorder and ledger.index.max_notification_id() is None
    finally:
        ledger.close()


# --- 4. PostgreSQL --------------------------------------------------------------------------------


def test_the_postgres_recorder_overrides_the_librarys_steps():
    pytest.importorskip("psycopg")
    from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder, PostgresRecorder

    from ledger.store.postgres import ColumnArraysPostgresRecorder, LedgerPostgresRecorder

    steps = [("self", P), ("curs", P), ("stored_events", P)]
    assert_overrides(ColumnArraysPostgresRecorder, PostgresAggregateRecorder, "_insert_stored_events",
                     [*steps, ("_", VK)], "ColumnArraysPostgresRecorder._insert_stored_events")
    assert_overrides(LedgerPostgresRecorder, PostgresApplicationRecorder, "_insert_stored_events",
                     [*steps, ("kwargs", VK)], "ColumnArraysPostgresRecorder (after PostgresApplicationRecorder)")
    assert_overrides(LedgerPostgresRecorder, PostgresApplicationRecorder, "_insert_events", [*steps, ("_", VK)],
                     "LedgerPostgresRecorder._insert_events")
    assert_overrides(LedgerPostgresRecorder, PostgresApplicationRecorder, "_fetch_ids_after_insert_events",
                     [*steps, ("_", VK)], "LedgerPostgresRecorder._fetch_ids_after_insert_events")
    assert_overrides(LedgerPostgresRecorder, PostgresRecorder, "create_table", [("self", P)],
                     "LedgerPostgresRecorder.create_table")
    assert_overrides(LedgerPostgresRecorder, PostgresRecorder, "_create_table", [("self", P), ("curs", P)],
                     "LedgerPostgresRecorder._create_table")
    assert 'SQL(" RETURNING notification_id")' in inspect.getsource(PostgresApplicationRecorder.__init__), departure(
        "ColumnArraysPostgresRecorder", "PostgresApplicationRecorder no longer appends RETURNING to the insert statement")
    mro = LedgerPostgresRecorder.__mro__
    assert mro.index(PostgresApplicationRecorder) < mro.index(ColumnArraysPostgresRecorder), \
        departure("ColumnArraysPostgresRecorder", "it must come after PostgresApplicationRecorder")
    for method in ("insert_events", "select_notifications", "max_notification_id"):
        owner = next(k for k in mro if method in k.__dict__)
        assert owner.__module__ == "eventsourcing.postgres", \
            departure("RecordTimeIndex(ApplicationRecorder)", f"{method} now comes from {owner}")


def test_the_library_calls_a_postgres_saves_steps_in_the_order_the_ledger_relies_on():
    """`_insert_events` (outside the table lock), `_insert_stored_events` (lock, insert),
    `_fetch_ids_after_insert_events` (the ledger writes its link there), in one thread."""
    pytest.importorskip("psycopg")
    from eventsourcing.postgres import PostgresApplicationRecorder

    class Fake:
        enable_db_functions = False

        @contextmanager
        def _itself(self) -> Any:
            yield self

        get_connection = pipeline = transaction = cursor = _itself  # each a context of itself

        def sync(self) -> None:
            calls.append("sync")

    calls: list[str] = []

    class Probe(PostgresApplicationRecorder):
        def _insert_events(self, curs: Any, stored_events: Any, **kwargs: Any) -> None:
            calls.append("_insert_events")

        def _insert_stored_events(self, curs: Any, stored_events: Any, **kwargs: Any) -> None:
            calls.append("_insert_stored_events")

        def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Any, **kwargs: Any) -> list[int]:
            calls.append("_fetch_ids_after_insert_events")
            return [1]

    recorder = object.__new__(Probe)
    recorder.datastore = Fake()
    assert recorder.insert_events([object()]) == [1]
    assert calls == ["_insert_events", "_insert_stored_events", "sync", "_fetch_ids_after_insert_events"], \
        departure("LedgerPostgresRecorder (ledger.store.postgres)", f"the library's save now calls {calls}")


def test_the_postgres_datastore_still_has_what_the_ledger_reads():
    pytest.importorskip("psycopg")
    from eventsourcing.postgres import PostgresDatastore

    datastore = PostgresDatastore(dbname="ledger", host="db.example", port="5432", user="u", password="",
                                  schema="acct", originator_id_type="text")  # the pool opens lazily: no connection
    try:
        missing = [a for a in ("schema", "originator_id_type", "enable_db_functions", "pool", "transaction",
                               "get_connection", "register_type_adapters") if not hasattr(datastore, a)]
        assert not missing, departure("recorder.datastore internals", f"PostgresDatastore no longer has {missing}")
        assert isinstance(datastore.pool.kwargs, dict), \
            departure("LedgerPostgresRecorder.open_read_only", "datastore.pool.kwargs is no longer a dict")
        assert datastore.schema == "acct"
    finally:
        datastore.close()


# --- 5. the save path, the aggregates, the register ----------------------------------------------


def test_save_atomically_does_what_the_librarys_event_store_put_does(tmp_path):
    """`SupportLedger.save_atomically` maps the events and calls `recorder.insert_events`,
    as `EventStore.put` does, without the Recordings put returns for followers."""
    name = "save_atomically (bypasses EventStore.put)"
    assert_overrides(SupportLedger, EventStore, "put", [("self", P), ("domain_events", P), ("kwargs", VK)], name)
    assert_overrides(LedgerSQLiteRecorder, AggregateRecorder, "insert_events",
                     [("self", P), ("stored_events", P), ("kwargs", VK)], name)
    from ledger.aggregates import Client
    from ledger.context import recording

    ledger = SupportLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    seen: list[list[Any]] = []
    insert = ledger.recorder.insert_events

    def spy(stored_events: Any, **kwargs: Any) -> Any:
        seen.append(list(stored_events))
        return insert(stored_events, **kwargs)

    try:
        ledger.recorder.insert_events = spy  # type: ignore[method-assign]
        with recording("tester"):
            client = Client.register("c1", "C One", datetime(2025, 1, 1, tzinfo=timezone.utc))
        events = list(client.collect_events())
        ledger.events.put(events)
        assert len(seen) == 1 and [s.originator_id for s in seen[0]] == [e.originator_id for e in events], \
            departure(name, "EventStore.put no longer hands the mapped events to recorder.insert_events")
    finally:
        ledger.close()


def test_the_aggregates_and_events_rely_on_the_librarys_protocol():
    name = "LedgerAggregate._start/_record, LedgerEvent.apply"
    assert BaseAggregate.INITIAL_VERSION == 1, departure(name, "BaseAggregate.INITIAL_VERSION changed")
    assert isinstance(inspect.getattr_static(BaseAggregate, "pending_events"), property), \
        departure(name, "BaseAggregate.pending_events is no longer a property")
    assert callable(getattr(BaseAggregate, "collect_events", None)), departure(name, "collect_events is gone")
    for cls in (CanMutateAggregate, CanInitAggregate):
        assert "self.apply(" in inspect.getsource(cls.mutate), \
            departure(name, f"{cls.__qualname__}.mutate no longer calls apply, which LedgerEvent overrides")
    assert_overrides(object, CanMutateAggregate, "apply", [("self", P), ("aggregate", P)], name)


def test_the_register_view_implements_every_abstract_tracking_method():
    from eventsourcing.projection import Projection

    from projections.register import IssuedInvoiceRegister, RegisterView

    name = "RegisterView(TrackingRecorder), IssuedInvoiceRegister(Projection)"
    assert not RegisterView.__abstractmethods__, departure(name, f"new abstract {set(RegisterView.__abstractmethods__)}")
    assert_overrides(RegisterView, TrackingRecorder, "max_tracking_id", [("self", P), ("application_name", P)], name)
    assert not IssuedInvoiceRegister.__abstractmethods__, departure(name, "Projection has new abstract methods")
    assert "view" in [n for n, _ in parameters(Projection.__init__)], departure(name, "Projection(view) changed")


# --- msgspec and pydantic (entries 17 and 18) -----------------------------------------------------


def test_msgspec_writes_and_reads_the_forms_the_store_holds():
    forms = departure("events are msgspec Structs", "the JSON forms pydantic wrote, written and read by msgspec")

    class Forms(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
        at: Annotated[datetime, msgspec.Meta(tz=True)]
        day: date
        amount: Decimal

    written = msgspec.to_builtins(Forms(at=datetime(2025, 3, 14, 10, 0, 0, 5, tzinfo=MOSCOW), day=date(2025, 3, 1),
                                        amount=Decimal("1500.00")))
    assert written == {"at": "2025-03-14T10:00:00.000005+03:00", "day": "2025-03-01", "amount": "1500.00"}, forms
    utc = msgspec.to_builtins(Forms(at=datetime(2025, 3, 14, 10, tzinfo=timezone.utc), day=date(2025, 3, 1), amount=Decimal(0)))
    assert utc["at"] == "2025-03-14T10:00:00Z", forms
    read = msgspec.convert(written, Forms)
    assert read.at == datetime(2025, 3, 14, 10, 0, 0, 5, tzinfo=MOSCOW) and read.at.utcoffset() == timedelta(hours=3), forms
    assert str(read.amount) == "1500.00", forms + " (money loses its scale)"
    for damaged, located in (({**written, "at": "2025-03-14T10:00:00"}, "- at `$.at`"),
                             ({**written, "extra": 1}, "unknown field `extra`")):
        with pytest.raises(msgspec.ValidationError, match=re.escape(located)):
            msgspec.convert(damaged, Forms)
    assert issubclass(msgspec.ValidationError, ValueError), forms + " (a refusal is no longer a ValueError)"
    # verify decodes straight from the stored bytes with the envelope appended: the last of a
    # repeated key counts, as in the dict the mapper builds (ledger.store.mapper._decoded)
    repeated = b'{"at":"2025-03-14T10:00:00+03:00","day":"2025-03-01","amount":"1","day":"2025-03-02"}'
    assert msgspec.json.Decoder(Forms).decode(repeated).day == date(2025, 3, 2), forms + " (a repeated key)"


def test_msgspec_runs_post_init_on_convert_and_force_setattr_works_on_a_frozen_struct():
    forms = departure("events are msgspec Structs", "__post_init__ on convert; force_setattr; a mixin base")
    state = {"originator_id": "ticket/T-1", "originator_version": 2, "timestamp": "2025-03-14T07:00:00Z",
             "client_id": "acme", "actor": "tester", "command_id": None, "entry_id": "T-1/1", "engineer": "ivanov",
             "started_at": "2025-03-14T10:00:00+03:00", "minutes": 45, "activity": "repair", "purpose": None}
    event = msgspec.convert(state, TimeLogged)
    assert event.timestamp.tzinfo is MOSCOW, forms + " (__post_init__ did not run, or force_setattr did nothing)"
    with pytest.raises(AttributeError):
        event.minutes = 1  # type: ignore[misc]
    assert isinstance(event, CanMutateAggregate) and TimeLogged.originator_id_type is str, forms


def test_pydantic_honours_the_setting_that_disables_its_plugins(monkeypatch):
    plugins = departure("events are msgspec Structs", "PYDANTIC_DISABLE_PLUGINS=__all__ skips the plugin scan")
    from pydantic.plugin import _loader

    def scanned(**_: Any) -> Any:
        raise AssertionError(plugins + " (the installed packages were scanned)")

    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "__all__")
    monkeypatch.setattr(_loader, "_plugins", None)
    monkeypatch.setattr(_loader, "entry_points", scanned)
    assert list(_loader.get_plugins()) == [], plugins


def test_a_discriminated_union_validates_with_the_tagged_model():
    own = departure("commands validated by their own model", "the union validates with the model its tag names")
    union = TypeAdapter(AnyCommand)
    command = {"command": "LogTime", "ticket_id": "T-1", "entry_id": "T-1/1", "engineer": "ivanov",
               "started_at": "2025-03-03T12:00", "minutes": 45, "activity": "repair"}
    (log_time,) = (model for model in COMMAND_MODELS if model.__name__ == "LogTime")
    assert union.validate_python(command) == log_time.model_validate(command), own
    assert union.validate_json(json.dumps(command)) == log_time.model_validate_json(json.dumps(command)), own
    assert issubclass(ValidationError, ValueError), own + " (a refusal is no longer a ValueError)"
    with pytest.raises(ValidationError) as refused:
        union.validate_python({**command, "minutes": 0})
    assert refused.value.errors()[0]["loc"] == ("LogTime", "minutes"), own + " (errors are no longer under the tag)"
    adapter = CommandAdapter(COMMAND_MODELS)
    assert adapter.validate_python(command) == union.validate_python(command) and "union" not in vars(adapter), own
