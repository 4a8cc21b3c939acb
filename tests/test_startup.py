"""Issue 17, "The CLI starts fast": what a query and one command build and import, and that the
shortcuts taken for it give what pydantic gives. The speed itself is measured, not tested
(README, "Start-up: figures").

- The event models are built on first use (`defer_build`), and the first events of a class
  are read back without building its model (`ledger.store.mapper.plain_event`): a query
  builds none, nor loads pydantic's plugin look-up (`importlib.metadata`).
- The command models are built on first use too, and a command is validated by its own model
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

import pytest
from pydantic import AwareDatetime, TypeAdapter

import ledger.events as events
from commands.models import COMMAND_MODELS, OWN_MODEL_COMMANDS, AnyCommand, CommandAdapter
from ledger.application import SupportLedger
from ledger.events import ClientRegistered, LedgerEvent, TimeLogged
from ledger.store.mapper import PLAIN_READS, LedgerMapper, LedgerTranscoder, _plain_reads, constructed, plain_event
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
import commands.models as commands_models, ledger.events as events
from pydantic import BaseModel
def built(module):
    return sorted(name for name, value in vars(module).items() if isinstance(value, type)
                  and issubclass(value, BaseModel) and value.__module__ == module.__name__
                  and value.__pydantic_complete__)
print(json.dumps({"status": status, "modules": sorted(sys.modules), "events": built(events),
                  "commands": built(commands_models) if "commands.models" in sys.modules else []}))
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


# (history, explain and diff write each event's fields with pydantic's serializer: they build
# the models of the events they show.)
@pytest.mark.parametrize("query", [["invoice", "acme", "--period", "2025-03", "--json"],
                                   ["entitlements", "acme", "--at", "2025-03-12T12:00", "--json"],
                                   ["register", "--json"]], ids=lambda query: query[0])
def test_a_query_builds_no_event_model_and_imports_neither_holidays_nor_the_plugin_look_up(store, query):
    after = cli_in_a_fresh_interpreter(*query, "--db", store)
    assert after["status"] == 0
    assert after["events"] == []
    assert not {"holidays", "importlib.metadata"} & set(after["modules"])


def test_a_calendar_question_imports_holidays(store):
    after = cli_in_a_fresh_interpreter("hours", "2025-03-07", "2025-03-10", "--json", "--db", store)
    assert after["status"] == 0 and "holidays" in after["modules"]


def test_one_command_builds_its_own_command_model_and_the_events_it_records(tmp_path):
    line = json.dumps(builders.register("acme", "2025-01-10T09:00")) + "\n"
    after = cli_in_a_fresh_interpreter("apply", "-", "--db", f"sqlite:///{tmp_path / 'ledger.db'}", stdin=line)
    assert after["status"] == 0
    assert after["commands"] == ["RegisterClient"]
    assert after["events"] == ["ClientRegistered", "PriorityAccountOpened"]
    assert "holidays" not in after["modules"]


def test_importing_the_ledger_builds_no_model():
    code = ("import ledger.application, commands.models, commands.handlers, commands.bus, ledger.events as e\n"
            "from pydantic import BaseModel\n"
            "import commands.models as m\n"
            "print(sorted(c.__name__ for module in (e, m) for c in vars(module).values() if isinstance(c, type)"
            " and issubclass(c, BaseModel) and c.__module__ == module.__name__ and c.__pydantic_complete__))")
    assert run_python(code).strip() == "[]"


# --- events read without their models are pydantic's ---------------------------------------------


def _samples(annotation: Any) -> list[Any]:
    """Values of a field type, in the forms the ledger records (several offsets and precisions)."""
    if annotation in (datetime, AwareDatetime):
        return [datetime(2025, 3, 14, 10, 30, tzinfo=MOSCOW), datetime(2025, 3, 14, 7, 30, 0, 250000, tzinfo=timezone.utc),
                datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))]
    simple = {str: ["T-1", "акме"], int: [1, 1440], date: [date(2025, 3, 1)], Decimal: [Decimal("1500.00"), Decimal("0.00")]}
    if annotation in simple:
        return simple[annotation]
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return list(arguments)
    if type(None) in arguments:
        return [None, *_samples(next(argument for argument in arguments if argument is not type(None)))]
    if origin is tuple:
        return [(), ({"key": "line", "amount": "1500.00", "events": ["client/acme#1"], "quantity": 2},)]
    raise AssertionError(f"no sample for {annotation!r}: add one, and a reader in ledger.store.mapper")


def _written_events() -> list[LedgerEvent]:
    """Events of every class, each field taking each of its sample values in turn."""
    made = []
    for cls in EVENT_CLASSES:
        fields = {name: _samples(field.annotation) for name, field in cls.model_fields.items()}
        for turn in range(max(len(values) for values in fields.values())):
            values = {name: samples[turn % len(samples)] for name, samples in fields.items()}
            made.append(cls(**values))
    return made


def _stored_state(mapper: LedgerMapper, event: LedgerEvent) -> tuple[type[LedgerEvent], dict[str, Any]]:
    """What `to_domain_event` hands to pydantic for this event once stored."""
    stored = mapper.to_stored_event(event)
    cls = type(event)
    state = mapper._payload(cls, stored)
    state.update(originator_id=stored.originator_id, originator_version=stored.originator_version)
    return cls, state


def _same(one: LedgerEvent, other: LedgerEvent) -> bool:
    """Equal as pydantic compares them, and alike down to each value's type and time zone."""
    def shape(event: LedgerEvent) -> list[tuple[str, type, Any]]:
        return [(name, type(value), getattr(value, "tzinfo", None)) for name, value in vars(event).items()]
    return (one == other and repr(one) == repr(other) and shape(one) == shape(other)
            and one.model_fields_set == other.model_fields_set and one.model_dump_json() == other.model_dump_json())


def test_every_event_class_is_read_without_its_model_as_pydantic_reads_it():
    mapper = LedgerMapper(transcoder=LedgerTranscoder())
    written = _written_events()
    assert {type(event) for event in written} == set(EVENT_CLASSES)
    for event in written:
        cls, state = _stored_state(mapper, event)
        plain = constructed(cls, dict(state))
        assert plain is not None, f"{cls.__name__} is not read without its model (ledger.store.mapper._reader)"
        assert _same(plain, cls.model_validate(state)), cls.__name__


def test_the_demos_events_are_read_without_their_models_as_pydantic_reads_them(store):
    with SupportLedger(store, read_only=True) as ledger:
        recorded = [recorded.event for recorded in ledger.recorded_events()]
    assert len({type(event) for event in recorded}) >= 20
    for event in recorded:
        cls, state = _stored_state(ledger.mapper, event)
        plain = constructed(cls, dict(state))
        assert plain is not None and _same(plain, cls.model_validate(state)), cls.__name__


def _state(**changes: Any) -> dict[str, Any]:
    mapper = LedgerMapper(transcoder=LedgerTranscoder())
    event = TimeLogged(originator_id="ticket/T-1", originator_version=2, timestamp=datetime(2025, 3, 14, 10, tzinfo=MOSCOW),
                       client_id="acme", entry_id="T-1/1", engineer="ivanov", started_at=datetime(2025, 3, 14, 10, tzinfo=MOSCOW),
                       minutes=45, activity="consultation", actor="tester", command_id=None)
    state = _stored_state(mapper, event)[1]
    state.update(changes)
    return {name: value for name, value in state.items() if value is not ...}


@pytest.mark.parametrize("changes", [
    {"started_at": "2025-03-14T10:00:00"},  # no offset: AwareDatetime refuses it
    {"started_at": "2025-03-14 10:00:00+03:00"},  # a form pydantic reads but does not write
    {"started_at": "2025-02-30T10:00:00+03:00"},  # no such day
    {"minutes": "45"}, {"minutes": 45.0}, {"minutes": True},
    {"activity": "sleeping"}, {"purpose": "other"},
    {"engineer": 7}, {"client_id": ["acme"]},
    {"extra": 1},  # a field the event does not have
    {"entry_id": ...},  # a field missing
    {"timestamp": "yesterday"},
], ids=repr)
def test_a_value_not_as_pydantic_writes_it_is_left_to_pydantic(changes):
    state = _state(**changes)
    assert constructed(TimeLogged, state) is None
    try:
        validated = TimeLogged.model_validate(state)
    except ValueError:
        return  # refused: the mapper names the damaged record
    assert validated == TimeLogged.model_validate(state)  # read otherwise, by pydantic


def test_other_value_forms_that_pydantic_writes_are_read_as_it_reads_them():
    for changes in ({"started_at": "2025-03-14T07:00:00Z"}, {"started_at": "2025-03-14T10:00:00.5+03:00"},
                    {"purpose": "diagnostics"}, {"client_id": None}, {"command_id": "c-1"}):
        state = _state(**changes)
        plain = constructed(TimeLogged, dict(state))
        assert plain is not None and _same(plain, TimeLogged.model_validate(state)), changes
    registered = _state()  # a decimal, a date and a record tuple: see every_event_class above
    assert registered


def test_a_long_read_builds_the_model_once_the_plain_reads_are_spent():
    class Probe(LedgerEvent):  # a class of its own, so that nothing has built it
        valid_time_field = "at"
        at: AwareDatetime

    state = {"originator_id": "probe/1", "originator_version": 1, "timestamp": "2025-03-14T10:00:00+03:00",
             "client_id": None, "actor": "a", "command_id": None, "at": "2025-03-14T10:00:00+03:00"}
    for _ in range(PLAIN_READS - _plain_reads[Probe]):
        assert plain_event(Probe, state) is not None
    assert not Probe.__pydantic_complete__
    assert plain_event(Probe, state) is None  # the mapper validates: pydantic builds the model
    assert Probe.model_validate(state).at.utcoffset() == timedelta(hours=3) and Probe.__pydantic_complete__
    assert plain_event(Probe, state) is None


def test_the_upcast_payload_of_an_older_class_version_is_read_as_pydantic_reads_it():
    mapper = LedgerMapper(transcoder=LedgerTranscoder())
    event = ClientRegistered(originator_id="client/acme", originator_version=1, timestamp=datetime(2025, 1, 10, 9, tzinfo=MOSCOW),
                             originator_topic="ledger.aggregates.client:Client", client_id="acme", name="Acme",
                             registered_at=datetime(2025, 1, 10, 9, tzinfo=MOSCOW), actor="tester", command_id=None)
    stored = mapper.to_stored_event(event)
    older = json.loads(stored.state)
    del older["class_version"], older["registered_at"]  # as class_version 1 wrote it
    state = mapper._payload(ClientRegistered, type(stored)(stored.originator_id, 1, stored.topic, json.dumps(older).encode()))
    state.update(originator_id="client/acme", originator_version=1)
    plain = constructed(ClientRegistered, dict(state))
    assert plain is not None and _same(plain, ClientRegistered.model_validate(state))
    assert plain.registered_at == event.timestamp


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
