"""One pydantic model per CONTRACT.md command. Validated before any aggregate is touched;
the JSON Schema of `Command` documents the command-file format (`support-ledger schema`).

The models are built on first use (`defer_build`), and a command whose name is known is
validated by its own model (`COMMAND_ADAPTER`): applying one line builds one model, not
all of them (issue 17).
"""

import hashlib
import json
import re
from functools import cached_property
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, TypeAdapter

from ledger.rules.prices import KOPECK
from ledger.text import printable
from ledger.timeutil import (
    DATE_PATTERN,
    INSTANT_PATTERN,
    PERIOD_PATTERN,
    check_date,
    check_instant,
    in_moscow,
    parse_date,
    parse_instant,
    parse_period,
)
from ledger.vocabulary import (
    CATEGORIES,
    EXCLUDED_CATEGORIES,
    Activity,
    CalendarDayKind,
    Channel,
    Purpose,
)

# --- field types --------------------------------------------------------------------------


# What an instant, a date and a period field accepts (in a command line, and in the Python API's
# queries, `commands.api`): ValueError naming what is wrong.


def instant_value(value: Any) -> datetime:
    if isinstance(value, datetime):  # from Python (the API), not from a command file
        try:
            return check_instant(in_moscow(value))
        except OverflowError:
            raise ValueError(f"{value.isoformat()} is out of range on the Moscow clock") from None
    if not isinstance(value, str):
        raise ValueError("an instant is an ISO 8601 string, e.g. 2025-03-14T10:30:00+03:00")
    return parse_instant(value)


def day_value(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return check_date(value)
    if not isinstance(value, str):
        raise ValueError("a date is a string YYYY-MM-DD")
    return parse_date(value)


MAX_MONEY_DIGITS = 12  # roubles before the point: up to 999 999 999 999.99


def _money(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        text = format(value, "f") if value.is_finite() else str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError('money is a decimal string with at most two places, e.g. "1500.00"')
    if not _MONEY.fullmatch(text):
        raise ValueError(f"{value!r} is not an amount of roubles: ASCII digits, at most "
                         f"{MAX_MONEY_DIGITS} before the point and two after it, e.g. \"1500.00\"")
    return Decimal(text).quantize(KOPECK)  # "1500", "1500.0" and "1500.00" are the same amount


MONEY_PATTERN = rf"^[0-9]{{1,{MAX_MONEY_DIGITS}}}(\.[0-9]{{1,2}})?$"  # the schema's; matched whole
_MONEY = re.compile(MONEY_PATTERN)


def period_value(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a period is a string YYYY-MM")
    parse_period(value)
    return value


def _text(value: str) -> str:
    return printable(value, multiline=True)


Instant = Annotated[datetime, BeforeValidator(instant_value), Field(json_schema_extra={"type": "string", "pattern": INSTANT_PATTERN})]
Day = Annotated[date, BeforeValidator(day_value), Field(json_schema_extra={"pattern": DATE_PATTERN})]
Money = Annotated[Decimal, BeforeValidator(_money), Field(json_schema_extra={"type": "string", "pattern": MONEY_PATTERN})]
Period = Annotated[str, BeforeValidator(period_value), Field(json_schema_extra={"pattern": PERIOD_PATTERN})]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(printable)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000), AfterValidator(_text)]
Minutes = Annotated[int, Field(strict=True, ge=1, le=1440)]
# Any string is accepted here so that the aggregate can refuse an excluded kind of work
# citing its clause (I-3, R-EXC-1/2); the schema lists the categories that are support.
CategoryName = Annotated[
    str,
    AfterValidator(printable),
    Field(json_schema_extra={"enum": list(CATEGORIES), "x-excluded": EXCLUDED_CATEGORIES}),
]


# What `json.dumps(content, sort_keys=True, separators=(",", ":"))` writes, without building
# an encoder per call (json.dumps does whenever an option is given).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
_NOT_CONTENT = {"command_id"}


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    # Whether the command's times may lie ahead of the record time: it schedules a change
    # (a price list, a calendar day, a subscription, an engineer, a pilot). Every other
    # command records a fact, which cannot be known before it happens (`future_fact`).
    schedules: ClassVar[bool] = False
    # Whether the handler computes from what the store has recorded about the command's
    # client (an invoice is frozen from the record): a batch saves first whatever it holds
    # for that client, so that the record includes it.
    reads_the_record: ClassVar[bool] = False

    command_id: Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(printable)] | None = None

    def field_or_none(self, name: str) -> Any:
        """The command's field `name`, or None where it has none: `getattr` without pydantic's
        slow path for a missing attribute (this runs for every command of a batch)."""
        return self.__dict__.get(name)

    def content_sha256(self) -> str:
        """What makes two sends of a command_id the same command (CONTRACT.md idempotency)."""
        content = self.model_dump(mode="json", exclude=_NOT_CONTENT)
        return hashlib.sha256(_CANONICAL.encode(content).encode()).hexdigest()


# --- the catalog ---------------------------------------------------------------------------


class ReleaseVersion(Command):
    command: Literal["ReleaseVersion"]
    product: Name
    version: Name
    released_on: Day


class PublishPriceList(Command):
    schedules = True
    command: Literal["PublishPriceList"]
    effective_from: Day
    norm_hour: Money
    priority_month: Money


class OverrideCalendarDay(Command):
    schedules = True
    command: Literal["OverrideCalendarDay"]
    date: Day
    kind: CalendarDayKind
    reason: Text


# --- clients ---------------------------------------------------------------------------------


class RegisterClient(Command):
    command: Literal["RegisterClient"]
    client_id: Name
    name: Name
    at: Instant | None = None  # extension: when the client was registered; default now


class IssueLicense(Command):
    command: Literal["IssueLicense"]
    client_id: Name
    license_id: Name
    product: Name
    issued_on: Day


class HandOverLicenseKey(Command):
    command: Literal["HandOverLicenseKey"]
    client_id: Name
    license_id: Name
    at: Instant


class StartImplementation(Command):
    command: Literal["StartImplementation"]
    client_id: Name
    at: Instant


class FinishImplementation(Command):
    command: Literal["FinishImplementation"]
    client_id: Name
    at: Instant


class RegisterPersonalConfiguration(Command):
    command: Literal["RegisterPersonalConfiguration"]
    client_id: Name
    configuration_id: Name
    at: Instant


class StartPilot(Command):
    schedules = True
    command: Literal["StartPilot"]
    client_id: Name
    pilot_id: Name
    at: Instant
    contract: Name


class EndPilot(Command):
    schedules = True
    command: Literal["EndPilot"]
    client_id: Name
    pilot_id: Name
    at: Instant


class AssignEngineer(Command):
    schedules = True
    command: Literal["AssignEngineer"]
    client_id: Name
    engineer: Name
    at: Instant


class SubscribePriority(Command):
    schedules = True
    command: Literal["SubscribePriority"]
    client_id: Name
    subscription_id: Name
    at: Instant


class CancelPriority(Command):
    schedules = True
    command: Literal["CancelPriority"]
    client_id: Name
    subscription_id: Name
    at: Instant


# --- tickets ----------------------------------------------------------------------------------


class OpenTicket(Command):
    command: Literal["OpenTicket"]
    ticket_id: Name
    client_id: Name
    at: Instant
    channel: Channel
    subject: Text
    category: CategoryName
    product: Name
    version: Name
    build: Name | None = None
    description: Text | None = None
    screenshot: Text | None = None


class ClassifyTicket(Command):
    command: Literal["ClassifyTicket"]
    ticket_id: Name
    category: CategoryName
    at: Instant
    reason: Text


class ConfirmBug(Command):
    command: Literal["ConfirmBug"]
    ticket_id: Name
    at: Instant


class RejectBug(Command):
    command: Literal["RejectBug"]
    ticket_id: Name
    at: Instant
    category: CategoryName
    reason: Text


class LogTime(Command):
    command: Literal["LogTime"]
    ticket_id: Name
    entry_id: Name
    engineer: Name
    started_at: Instant
    minutes: Minutes
    activity: Activity
    purpose: Purpose | None = None


class CorrectTime(Command):
    command: Literal["CorrectTime"]
    ticket_id: Name
    entry_id: Name
    minutes: Minutes
    reason: Text


class VoidTime(Command):
    command: Literal["VoidTime"]
    ticket_id: Name
    entry_id: Name
    reason: Text


class RespondToTicket(Command):
    command: Literal["RespondToTicket"]
    ticket_id: Name
    at: Instant


class ResolveTicket(Command):
    command: Literal["ResolveTicket"]
    ticket_id: Name
    at: Instant


class ReopenTicket(Command):
    command: Literal["ReopenTicket"]
    ticket_id: Name
    at: Instant


# --- invoices ---------------------------------------------------------------------------------


class IssueInvoice(Command):
    reads_the_record = True
    command: Literal["IssueInvoice"]
    client_id: Name
    period: Period
    at: Instant


AnyCommand = Annotated[
    Union[
        ReleaseVersion, PublishPriceList, OverrideCalendarDay,
        RegisterClient, IssueLicense, HandOverLicenseKey, StartImplementation,
        FinishImplementation, RegisterPersonalConfiguration, StartPilot, EndPilot,
        AssignEngineer, SubscribePriority, CancelPriority,
        OpenTicket, ClassifyTicket, ConfirmBug, RejectBug, LogTime, CorrectTime, VoidTime,
        RespondToTicket, ResolveTicket, ReopenTicket,
        IssueInvoice,
    ],
    Field(discriminator="command"),
]
COMMAND_MODELS: tuple[type[Command], ...] = AnyCommand.__origin__.__args__  # type: ignore[attr-defined]


OWN_MODEL_COMMANDS = 100  # commands validated by their own models before the union is built


class CommandAdapter:
    """`TypeAdapter(AnyCommand)`'s `validate_json`, `validate_python` and `json_schema`,
    without building the union (and with it every command model) before it is needed.

    A discriminated union reads the command's name and validates with that command's model;
    here, where the name is found, that model validates first — building only it — and what
    it accepts is the command the union gives (its `command` field is that name). Whatever
    it refuses, and input whose name is not found, goes to the union itself, so a refusal is
    pydantic's own, located under the command's name as before (tests/test_startup.py).
    After the first OWN_MODEL_COMMANDS commands the union validates every one: finding the
    name here costs a long file more than building the union once."""

    _NAMED = re.compile(r'"command"\s*:\s*"([A-Za-z]+)"')  # where a command file line names it

    def __init__(self, models: tuple[type[Command], ...]) -> None:
        self.models_by_name = {model.model_fields["command"].annotation.__args__[0]: model  # type: ignore[union-attr]
                               for model in models}
        self._own_model_commands = OWN_MODEL_COMMANDS

    @cached_property
    def union(self) -> TypeAdapter[Command]:
        return TypeAdapter(AnyCommand)

    def validate_json(self, text: str | bytes) -> Command:
        if self._own_model_commands > 0 and isinstance(text, str):
            named = self._NAMED.search(text)
            model = self._own_model(None if named is None else named.group(1))
            if model is not None:
                try:
                    return model.model_validate_json(text)
                except ValueError:
                    pass
        return self.union.validate_json(text)

    def validate_python(self, data: Any) -> Command:
        model = self._own_model(data.get("command")) if isinstance(data, dict) else None
        if model is not None:
            try:
                return model.model_validate(data)
            except ValueError:
                pass
        return self.union.validate_python(data)

    def json_schema(self) -> dict[str, Any]:
        return self.union.json_schema()

    def _own_model(self, name: Any) -> type[Command] | None:
        """The model of the command called `name`, while the union is not the quicker way."""
        if self._own_model_commands <= 0 or not isinstance(name, str):
            return None
        self._own_model_commands -= 1
        return self.models_by_name.get(name)


COMMAND_ADAPTER = CommandAdapter(COMMAND_MODELS)


def _is_time(annotation: Any) -> bool:
    return annotation in (datetime, date) or any(_is_time(inner) for inner in get_args(annotation))


_TIMES: dict[type[Command], tuple[str, ...]] = {
    model: tuple(name for name, field in model.model_fields.items() if _is_time(field.annotation))
    for model in COMMAND_MODELS
}
SCHEDULING: tuple[str, ...] = tuple(model.__name__ for model in COMMAND_MODELS if model.schedules)
COMMAND_NAMES: tuple[str, ...] = tuple(COMMAND_ADAPTER.models_by_name)  # in COMMAND_MODELS' order


FUTURE_TOLERANCE = timedelta(minutes=5)  # a writer's clock may run a little ahead of the store's


def future_fact(command: Command, now: datetime) -> tuple[str, str] | None:
    """(field, value) of a time the command gives that lies after `now` (beyond
    FUTURE_TOLERANCE, or a day after today in Moscow), when the command records a fact; None
    when there is none or the command schedules a change."""
    if command.schedules:
        return None
    latest = now + FUTURE_TOLERANCE
    for field in _TIMES[type(command)]:
        value = getattr(command, field)
        if isinstance(value, datetime):
            if value > latest:
                return field, value.isoformat()
        elif isinstance(value, date) and value > in_moscow(now).date():
            return field, value.isoformat()
    return None


def command_schema() -> dict[str, Any]:
    """The JSON Schema of one line of a command file."""
    schema = COMMAND_ADAPTER.json_schema()
    schema["title"] = "support-ledger command (one JSON object per line)"
    return schema
