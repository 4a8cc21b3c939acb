"""Issue 17, "The CLI starts fast": what a query and one command import and build, and that
the ways taken for it keep what the ledger records and reads. The speed itself is measured,
not tested (README, "Start-up: figures").

- Events are frozen `msgspec.Struct`s, written and read by msgspec (`ledger.store.mapper`),
  not pydantic models: a query imports no pydantic at all, nor the plugin look-up
  (`importlib.metadata`).
  Every event class round-trips through the store, the forms earlier versions wrote (with
  pydantic's serializer) read as before, and a value not of its field's kind is refused,
  naming the field, both when written and when read back.
- The command models are built on first use, and a command is validated by its own model
  (`commands.models.CommandAdapter`): one command builds one command model.
- `holidays` is imported when a calendar question first needs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent
from pydantic import TypeAdapter

import ledger.events as events
from commands.models import COMMAND_MODELS, OWN_MODEL_COMMANDS, AnyCommand, CommandAdapter
from ledger.application import SupportLedger
from ledger.errors import DamagedRecordError
from ledger.events import ClientRegistered, InvoiceIssued, LedgerEvent, PriceListPublished, TimeLogged
from ledger.store.chain import ChainedEvent
from ledger.store.mapper import LedgerMapper, LedgerTranscoder, UnwritableEventError
from ledger.timeutil import MOSCOW
from tests import builders
from tests.integrity_support import DEMO_COMMANDS
from tests.support import applied

ROOT = Path(__file__).resolve().parents[1]
EVENT_CLASSES = [value for value in vars(events).values()
                 if isinstance(value, type) and issubclass(value, LedgerEvent) and value.__module__ == events.__name__
                 and "valid_time_field" in dir(value)]


def run_python(code: str, *args: str, stdin: str = "", cwd: Path | None = None) -> str:
    """`code` run by a fresh interpreter (nothing built or imported yet); its stdout."""
    done = subprocess.run([sys.executable, "-c", code, *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return done.stdout


# What the CLI built and imported, printed by the interpreter that ran it.
AFTER_MAIN = """
import contextlib, io, json, sys
from commands.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    status = main(sys.argv[1:])
def built(module):
    from pydantic import BaseModel
    return sorted(name for name, value in vars(module).items() if isinstance(value, type)
                  and issubclass(value, BaseModel) and value.__module__ == module.__name__
                  and value.__pydantic_complete__)
modules = sorted(sys.modules)
commands_models = sys.modules.get("commands.models")
print(json.dumps({"status": status, "modules": modules,
                  "commands": built(commands_models) if commands_models else []}))
"""


def cli_in_a_fresh_interpreter(*argv: str, stdin: str = "") -> dict[str, Any]:
    return json.loads(run_python(AFTER_MAIN, *argv, stdin=stdin))


@pytest.fixture
def store(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with SupportLedger(url) as ledger:
        applied(ledger, *DEMO_COMMANDS)
    return url


# --- what a query and a command build and import ------------------------------------------------


@pytest.mark.parametrize("query", [["invoice", "acme", "--period", "2025-03", "--json"],
                                   ["explain", "acme", "--period", "2025-03", "--json"],
                                   ["diff", "acme", "--period", "2025-03", "--from-known-at", "2025-03-01T00:00", "--json"],
                                   ["history", "acme", "--json"],
                                   ["entitlements", "acme", "--at", "2025-03-12T12:00", "--json"],
                                   ["register", "--json"]], ids=lambda query: query[0])
def test_a_query_imports_neither_pydantic_nor_holidays_nor_the_plugin_look_up(store, query):
    after = cli_in_a_fresh_interpreter(*query, "--db", store)
    assert after["status"] == 0
    assert not {"pydantic", "pydantic_core", "holidays", "importlib.metadata"} & set(after["modules"])


def test_a_calendar_question_imports_holidays(store):
    after = cli_in_a_fresh_interpreter("hours", "2025-03-07", "2025-03-10", "--json", "--db", store)
    assert after["status"] == 0 and "holidays" in after["modules"]


def test_one_command_builds_its_own_command_model_and_the_events_it_records(tmp_path):
    line = json.dumps(builders.register("acme", "2025-01-10T09:00")) + "\n"
    after = cli_in_a_fresh_interpreter("apply", "-", "--db", f"sqlite:///{tmp_path / 'ledger.db'}", stdin=line)
    assert after["status"] == 0
    assert after["commands"] == ["RegisterClient"]
    assert "holidays" not in after["modules"]


def test_importing_the_ledger_builds_no_command_model():
    code = ("import ledger.application, commands.models, commands.handlers, commands.bus\n"
            "from pydantic import BaseModel\n"
            "import commands.models as m\n"
            "print(sorted(c.__name__ for c in vars(m).values() if isinstance(c, type)"
            " and issubclass(c, BaseModel) and c.__module__ == m.__name__ and c.__pydantic_complete__))")
    assert run_python(code).strip() == "[]"


# --- events round-trip through the store's JSON, field by field --------------------------------


def _samples(annotation: Any) -> list[Any]:
    """Values of a field type, in the forms the ledger records (several offsets and precisions)."""
    if annotation in (datetime, events.Instant):
        return [datetime(2025, 3, 14, 10, 30, tzinfo=MOSCOW), datetime(2025, 3, 14, 7, 30, 0, 250000, tzinfo=timezone.utc),
                datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))]
    simple = {str: ["T-1", "акме"], int: [1, 1440], date: [date(2025, 3, 1)],
              Decimal: [Decimal("1500.00"), Decimal("0.00"), Decimal("1E+3")]}
    if annotation in simple:
        return simple[annotation]
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return list(arguments)
    if type(None) in arguments:
        return [None, *_samples(next(argument for argument in arguments if argument is not type(None)))]
    if origin is tuple:
        return [(), ({"key": "standard_time:T-1:2025-03-05", "kind": "standard_time", "description": "Работа",
                      "quantity": "2.00", "unit_price": "1500.00", "amount": "3000.00", "date": "2025-03-05",
                      "events": ["client/acme#1"], "rules": ["R-STP-2"], "pending": False},)]
    raise AssertionError(f"no sample for {annotation!r}: add one")


def _written_events() -> list[LedgerEvent]:
    """Events of every class, each field taking each of its sample values in turn."""
    made = []
    for cls in EVENT_CLASSES:
        fields = {field.name: _samples(field.type) for field in msgspec.structs.fields(cls)}
        if "originator_topic" in fields:  # a topic is not any text: it names a ledger aggregate
            fields["originator_topic"] = ["ledger.aggregates.client:Client", "ledger.aggregates.ticket:Ticket"]
        for turn in range(max(len(values) for values in fields.values())):
            made.append(cls(**{name: samples[turn % len(samples)] for name, samples in fields.items()}))
    return made


def _same(one: LedgerEvent, other: LedgerEvent) -> bool:
    """Equal, and alike down to each value's type and offset (`==` alone lets a date pass for
    a datetime's day, or an instant for the same instant at another offset)."""
    def shape(event: LedgerEvent) -> list[tuple[str, type, Any]]:
        values = [(field.name, getattr(event, field.name)) for field in msgspec.structs.fields(event)]
        return [(name, type(value), value.utcoffset() if isinstance(value, datetime) else None) for name, value in values]
    return one == other and shape(one) == shape(other)


def test_every_event_class_round_trips_through_the_store():
    mapper = LedgerMapper(transcoder=LedgerTranscoder())
    written = _written_events()
    assert {type(event) for event in written} == set(EVENT_CLASSES)
    for position, event in enumerate(written, 1):
        stored = mapper.to_stored_event(event)
        read = mapper.to_domain_event(stored)
        assert _same(read, event), type(event).__name__
        assert read.timestamp.tzinfo is MOSCOW  # the moment produced, on the Moscow clock
        # verify's way, straight from the bytes, gives the same event (or, for a class with
        # an upcaster or with money, which must be a string in the JSON, leaves it to
        # to_domain_event)
        decoded = mapper._decoded(ChainedEvent(position, stored.originator_id, stored.originator_version,
                                               stored.topic, stored.state))
        leaves_it = type(event).class_version > 1 or type(event).money_fields
        assert decoded is None if leaves_it else _same(decoded, event), type(event).__name__


@pytest.mark.parametrize("damage", [{"minutes": "45"}, {"extra": 1}, {"entry_id": ...}, {"started_at": "2025-03-14T10:00"}],
                         ids=repr)
def test_verify_names_a_damaged_payload_as_the_mapper_does(damage):
    mapper = LedgerMapper(transcoder=LedgerTranscoder())
    stored = _stored(**damage)
    chained = ChainedEvent(1, stored.originator_id, stored.originator_version, stored.topic, stored.state)
    with pytest.raises(DamagedRecordError) as damaged:
        mapper.to_domain_event(stored)
    assert mapper._decoded(chained) is None
    assert mapper.read(chained) == (damaged.value.problem, None, ())


def _stored(**changes: Any) -> StoredEvent:
    """A stored TimeLogged as the ledger writes it, its JSON fields changed (`...`: removed)."""
    mapper = LedgerMapper(transcoder=LedgerTranscoder())
    event = TimeLogged(originator_id="ticket/T-1", originator_version=2, timestamp=datetime(2025, 3, 14, 10, tzinfo=MOSCOW),
                       client_id="acme", entry_id="T-1/1", engineer="ivanov", started_at=datetime(2025, 3, 14, 10, tzinfo=MOSCOW),
                       minutes=45, activity="consultation", actor="tester", command_id=None)
    stored = mapper.to_stored_event(event)
    state = {**json.loads(stored.state), **changes}
    state = {name: value for name, value in state.items() if value is not ...}
    return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, json.dumps(state).encode())


@pytest.mark.parametrize(("changes", "field"), [
    ({"started_at": "2025-03-14T10:00:00"}, "started_at"),  # no offset
    ({"started_at": "2025-02-30T10:00:00+03:00"}, "started_at"),  # no such day
    ({"started_at": 1741935600}, "started_at"),
    ({"minutes": "45"}, "minutes"), ({"minutes": 45.0}, "minutes"), ({"minutes": True}, "minutes"),
    ({"activity": "sleeping"}, "activity"), ({"purpose": "other"}, "purpose"),
    ({"engineer": 7}, "engineer"), ({"client_id": ["acme"]}, "client_id"),
    ({"extra": 1}, "extra"),  # a field the event does not have
    ({"entry_id": ...}, "entry_id"),  # a field missing
    ({"timestamp": "yesterday"}, "timestamp"),
], ids=repr)
def test_a_stored_value_not_of_its_fields_kind_is_a_damaged_record_naming_the_field(changes, field):
    with pytest.raises(DamagedRecordError) as damaged:
        LedgerMapper(transcoder=LedgerTranscoder()).to_domain_event(_stored(**changes))
    assert damaged.value.event_id == "ticket/T-1#2"
    problem = damaged.value.problem
    assert problem.startswith(f"payload does not decode: {field}: ") or problem.endswith(f"field `{field}`"), problem


def test_the_forms_pydantic_wrote_for_earlier_versions_are_read_as_it_read_them():
    """Stores written before events were dataclasses hold pydantic's forms: `Z` for UTC, a
    fraction of a second cut short, money as a string. They read as pydantic read them."""
    mapper = LedgerMapper(transcoder=LedgerTranscoder())
    read = mapper.to_domain_event(_stored(started_at="2025-03-14T07:00:00Z", timestamp="2025-03-14T07:00:00.5Z",
                                          purpose="diagnostics", command_id="c-1"))
    assert read.started_at == datetime(2025, 3, 14, 10, tzinfo=MOSCOW) and read.started_at.utcoffset() == timedelta(0)
    assert read.timestamp == datetime(2025, 3, 14, 10, 0, 0, 500000, tzinfo=MOSCOW) and read.timestamp.tzinfo is MOSCOW
    assert (read.purpose, read.command_id) == ("diagnostics", "c-1")
    prices = b'{"timestamp":"2025-01-01T09:00:00+03:00","client_id":null,"actor":"a","command_id":null,' \
             b'"effective_from":"2025-01-01","norm_hour":"1500.00","priority_month":"9000"}'
    published = mapper.to_domain_event(StoredEvent("catalog/main", 2, "ledger.events:PriceListPublished", prices))
    assert (published.effective_from, published.norm_hour, published.priority_month) == \
        (date(2025, 1, 1), Decimal("1500.00"), Decimal("9000"))
    assert str(published.norm_hour) == "1500.00"  # the scale kept: money is written as it was recorded


@pytest.mark.parametrize(("cls", "field", "value"), [
    (TimeLogged, "started_at", datetime(2025, 3, 14, 10)),  # naive: which clock?
    (TimeLogged, "started_at", date(2025, 3, 14)),
    (TimeLogged, "minutes", 45.5), (TimeLogged, "activity", "sleeping"),
    (PriceListPublished, "effective_from", datetime(2025, 1, 1, tzinfo=MOSCOW)),
], ids=repr)
def test_a_value_not_of_its_fields_kind_is_refused_before_it_is_written(cls, field, value):
    event = next(event for event in _written_events() if type(event) is cls)
    changed = msgspec.structs.replace(event, **{field: value})  # msgspec does not check at construction
    with pytest.raises(UnwritableEventError) as refused:
        LedgerMapper(transcoder=LedgerTranscoder()).to_stored_event(changed)
    assert f"would not read back: {field}" in str(refused.value)


@pytest.mark.parametrize("value", [1500.0, Decimal("NaN"), Decimal("-Infinity"), "1500.00", Decimal("1500.005"),
                                   Decimal("1E+15")], ids=repr)
def test_money_that_is_not_an_amount_of_roubles_is_refused_when_the_event_is_made(value):
    event = next(event for event in _written_events() if type(event) is PriceListPublished)
    with pytest.raises(ValueError, match="norm_hour: expected an amount of roubles"):
        msgspec.structs.replace(event, norm_hour=value)


def test_the_upcast_payload_of_an_older_class_version_is_read():
    mapper = LedgerMapper(transcoder=LedgerTranscoder())
    event = ClientRegistered(originator_id="client/acme", originator_version=1, timestamp=datetime(2025, 1, 10, 9, tzinfo=MOSCOW),
                             originator_topic="ledger.aggregates.client:Client", client_id="acme", name="Acme",
                             registered_at=datetime(2025, 1, 10, 9, tzinfo=MOSCOW), actor="tester", command_id=None)
    stored = mapper.to_stored_event(event)
    older = json.loads(stored.state)
    del older["class_version"], older["registered_at"]  # as class_version 1 wrote it
    read = mapper.to_domain_event(StoredEvent(stored.originator_id, 1, stored.topic, json.dumps(older).encode()))
    assert _same(read, event) and read.registered_at == event.timestamp


# --- a command validated by its own model is the union's ------------------------------------------


COMMANDS = [builders.release(), builders.price_list(), builders.override_day("2025-03-07"), builders.register(),
            builders.issue_license(), builders.hand_over_key(), builders.start_implementation("2025-02-01T10:00"),
            builders.finish_implementation("2025-02-10T10:00"), builders.register_configuration("PC-1", "2025-02-01T10:00"),
            builders.start_pilot("P-1", "2025-02-01T10:00"), builders.end_pilot("P-1", "2025-02-20T10:00"),
            builders.assign_engineer("ivanov", "2025-02-01T10:00"), builders.subscribe("S-1", "2025-02-01T10:00"),
            builders.cancel("S-1", "2025-03-01T10:00"), builders.open_ticket("T-1", "bug"),
            builders.classify("T-1", "question", "2025-03-03T12:00"), builders.confirm_bug("T-1", "2025-03-03T12:00"),
            builders.reject_bug("T-1", "question", "2025-03-03T12:00"), builders.log("T-1", "T-1/1", purpose="diagnostics"),
            builders.correct_time("T-1", "T-1/1", 30), builders.void_time("T-1", "T-1/1"),
            builders.respond("T-1", "2025-03-03T12:00"), builders.resolve("T-1", "2025-03-03T12:00"),
            builders.reopen("T-1", "2025-03-03T12:00"), builders.issue("2025-03", "2025-04-02T10:00")]
UNION = TypeAdapter(AnyCommand)


def _outcome(validate: Any, value: Any) -> Any:
    try:
        return validate(value)
    except ValueError as error:
        return type(error), str(error), getattr(error, "errors", lambda **_: None)(include_url=False, include_context=False)


def test_every_command_is_covered():
    assert {command["command"] for command in COMMANDS} == {model.__name__ for model in get_args(get_args(AnyCommand)[0])}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command["command"])
def test_a_command_validated_by_its_own_model_is_the_unions(command):
    variants = [command, {**command, "command_id": "c-1"}, {**command, "unknown": 1},
                {key: value for key, value in command.items() if key in ("command", "command_id")},
                {**command, "command": "NoSuchCommand"}, {**command, "command": 7},
                {**command, **{key: "" for key in command if key != "command"}}]
    adapter = CommandAdapter(COMMAND_MODELS)
    for variant in variants:
        assert _outcome(adapter.validate_python, variant) == _outcome(UNION.validate_python, variant)
        for text in (json.dumps(variant), json.dumps(variant, indent=1), json.dumps(variant, ensure_ascii=False) + " x"):
            assert _outcome(adapter.validate_json, text) == _outcome(UNION.validate_json, text)
    accepting = CommandAdapter(COMMAND_MODELS)
    assert accepting.validate_json(json.dumps(command)) == UNION.validate_json(json.dumps(command))
    assert "union" not in vars(accepting)  # a command accepted by its own model: the union is not built


def test_a_line_naming_two_commands_is_the_unions():
    adapter = CommandAdapter(COMMAND_MODELS)
    for text in ('{"command": "ConfirmBug", "ticket_id": "T-1", "at": "2025-03-03T12:00", "command": "ResolveTicket"}',
                 '{"command": "ResolveTicket", "ticket_id": "T-1", "at": "2025-03-03T12:00", "command": "ConfirmBug"}'):
        assert _outcome(adapter.validate_json, text) == _outcome(UNION.validate_json, text)


def test_a_long_file_is_validated_by_the_union_once_the_own_model_commands_are_spent():
    adapter = CommandAdapter(COMMAND_MODELS)
    text = json.dumps(builders.register())
    for _ in range(OWN_MODEL_COMMANDS):
        adapter.validate_json(text)
    assert "union" not in vars(adapter)
    assert adapter.validate_json(text) == UNION.validate_json(text) and "union" in vars(adapter)


def test_the_command_schema_is_the_unions():
    assert CommandAdapter(COMMAND_MODELS).json_schema() == UNION.json_schema()


# --- the benchmark that measures it -------------------------------------------------------------


def test_the_start_up_benchmark_runs_and_reports_every_figure():
    """`scripts/bench_startup.py` measures; this only checks that it runs (no figure is tested)."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts/bench_startup.py"), "--runs", "1", "--json"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures) == {"python_pass", "import_pydantic", "help", "invoice", "apply_one"}
    assert all(isinstance(seconds, float) and seconds > 0 for seconds in figures.values())


def test_a_line_an_invoice_cannot_freeze_is_refused_when_the_event_is_made():
    event = next(event for event in _written_events() if type(event) is InvoiceIssued and event.lines)
    with pytest.raises(ValueError, match=r"lines\[0\]: "):
        msgspec.structs.replace(event, lines=("not a record",))
    with pytest.raises(ValueError, match=r"lines\[0\]: .*amount"):
        msgspec.structs.replace(event, lines=({**event.lines[0], "amount": "NaN"},))
