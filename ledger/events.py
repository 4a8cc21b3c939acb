"""Every fact the ledger records: immutable, past-tense, explicit.

This module is the API of the past. Stored events are found again by their topic
(`ledger.events:<ClassName>`), so a class here is never renamed or deleted; when a payload
changes, its `class_version` goes up and an `upcast_vN_vN+1` classmethod turns the older
stored payload into the newer one (see `ledger.store.mapper.LedgerMapper`).

Each event carries:
- its valid time — when it happened in the world — named by `valid_time_field`
  and read uniformly as `valid_at`;
- `client_id` — the client the fact concerns (None for catalog facts);
- `actor` and `command_id` — who recorded it, under which command (CONTRACT.md `--actor`);
- `timestamp` — when the aggregate produced it. The record time proper comes from the
  store, which stamps it in the same transaction (the recorders of `ledger.store.sqlite` and `ledger.store.postgres`).

Events are frozen `msgspec.Struct`s, keyword-only, that refuse unknown fields: typed records
whose classes cost microseconds to create (40 frozen dataclasses took a sixth of a query's
start-up, pydantic models more, issue 17) and whose JSON form msgspec writes and reads in C
(`ledger.store.mapper`). Their values come from commands pydantic has validated
(`commands.models`); the mapper checks that what it writes reads back (an instant without
its offset, a word outside its vocabulary is refused before anything is recorded). A query
imports no pydantic at all. The annotations here are evaluated as the classes are defined (no
`from __future__ import annotations`), so msgspec reads them as types.
"""

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, ClassVar, TypeVar

import msgspec
from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate
from eventsourcing.utils import TopicError, resolve_topic

from ledger.context import current_actor, current_command_id
from ledger.timeutil import MOSCOW, in_moscow, moscow_date, period_of, start_of_day
from ledger.vocabulary import Activity, CalendarDayKind, Category, Channel, Purpose


T = TypeVar("T")
Instant = Annotated[datetime, msgspec.Meta(tz=True)]  # an aware instant: an offset is required

# What an event may hold, wider than what a command accepts (years 2000–2100, 12 digits of
# roubles): a value beyond it, which only another program could have stored, would overflow
# the Moscow clock or the kopeck rounding in every later query.
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(2200, 1, 1, tzinfo=timezone.utc)
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)
MAX_AMOUNT = Decimal(10) ** 15  # roubles; an amount has at most two places (kopecks)


class LedgerEvent(msgspec.Struct, CanMutateAggregate[str], frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A fact about one aggregate. Subclasses name the field that holds their valid time."""

    class_version: ClassVar[int] = 1
    valid_time_field: ClassVar[str]
    money_fields: ClassVar[tuple[str, ...]] = ()  # Decimal fields that must be amounts (not NaN, not a float)

    originator_id: str
    originator_version: int
    timestamp: datetime
    client_id: str | None = None
    actor: str = msgspec.field(default_factory=current_actor)
    command_id: str | None = msgspec.field(default_factory=current_command_id)

    def __post_init__(self) -> None:
        """Checks what the field types cannot say (msgspec runs this as it reads an event,
        and as an aggregate makes one): times and days within the ledger's range, money an
        amount of roubles; and the timestamp on the Moscow clock (naive: Moscow)."""
        for name, kind in _checked_fields(type(self)):
            value = getattr(self, name)
            if kind is datetime and isinstance(value, datetime) and value.tzinfo is not None:
                if not EARLIEST <= value < LATEST:
                    raise ValueError(f"{name}: {value.isoformat()} is outside the years 1900–2199")
            elif kind is date and type(value) is date and not FIRST_DAY <= value <= LAST_DAY:
                raise ValueError(f"{name}: {value.isoformat()} is outside the years 1900–2199")
        if self.timestamp.tzinfo is not MOSCOW:
            msgspec.structs.force_setattr(self, "timestamp", in_moscow(self.timestamp))
        for name in self.money_fields:
            amount = getattr(self, name)
            if type(amount) is not Decimal or not is_amount(amount) \
                    or amount.as_tuple().exponent < -2:  # type: ignore[operator]
                raise ValueError(f"{name}: expected an amount of roubles (a Decimal with at most two places, "
                                 f"under {MAX_AMOUNT:,}), got {amount!r}")

    @staticmethod
    def create_timestamp() -> datetime:
        """When an aggregate produces the event, already on the Moscow clock."""
        return datetime.now(MOSCOW)

    @property
    def valid_at(self) -> datetime:
        """When the fact holds in the world (valid time), as an aware instant."""
        value = getattr(self, self.valid_time_field)
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return start_of_day(value)
        raise TypeError(f"{type(self).__name__}.{self.valid_time_field} is not a time")

    @classmethod
    def valid_at_in(cls, payload: dict[str, Any]) -> datetime:
        """`valid_at` read from a stored payload (JSON fields, upcast), without validating
        the whole event: for scans that need only the valid time."""
        value = payload[cls.valid_time_field]
        return start_of_day(date.fromisoformat(value)) if len(value) == 10 else datetime.fromisoformat(value)

    def index_marks(self) -> tuple[str, ...]:
        """What the record-time index notes about this event's aggregate, once per aggregate
        and mark, with the first event that carries it (`ledger.store.index`): how queries
        find a client's aggregates without reading their events."""
        return ()

    def apply(self, aggregate: Any) -> None:
        aggregate.apply_event(self)

    def payload(self) -> dict[str, Any]:
        """The domain fields as JSON values, without the envelope every event shares (the
        client first, then the event's own fields)."""
        fields = msgspec.to_builtins(self)  # (keeps a tuple a tuple: JSON has lists)
        return {"client_id": fields.pop("client_id"),
                **{name: list(value) if type(value) is tuple else value
                   for name, value in fields.items() if name not in _ENVELOPE}}


_checked: dict[type, tuple[tuple[str, type], ...]] = {}


def _checked_fields(cls: type) -> tuple[tuple[str, type], ...]:
    """The fields of an event class that hold an instant or a day (worked out once per class)."""
    checked = _checked.get(cls)
    if checked is None:
        kinds = {datetime: datetime, Instant: datetime, date: date, datetime | None: datetime, date | None: date}
        checked = _checked[cls] = tuple((field.name, kinds[field.type]) for field in msgspec.structs.fields(cls)
                                        if field.type in kinds)
    return checked


def class_named(topic: Any, prefix: str, base: type[T]) -> type[T] | None:
    """The subclass of `base` a stored topic names, looked for only in modules whose topics
    begin with `prefix` — or None. A stored topic is data, not an instruction: naming another
    module must not import it (and a tampered row may hold bytes)."""
    if type(topic) is not str or not topic.startswith(prefix):
        return None
    try:
        cls = resolve_topic(topic)
    except (TopicError, ValueError, TypeError, AttributeError, ImportError):
        return None
    return cls if isinstance(cls, type) and issubclass(cls, base) else None


def is_amount(number: Decimal) -> bool:
    """A finite number under MAX_AMOUNT: what an amount (or a quantity) of a line may be."""
    return number.is_finite() and abs(number) < MAX_AMOUNT


def event_id(stream: str, version: int) -> str:
    """An event's stable, readable id: its aggregate's stream and its position in it,
    e.g. `ticket/T-1#3` (the same on both stores)."""
    return f"{stream}#{version}"


STREAM_MARK = "stream"  # the aggregate exists and concerns the event's client
REGISTERED_MARK = "registered"  # the aggregate is a registered client


def work_mark(period: str) -> str:
    """The ticket has work logged in `period` (I-4)."""
    return f"work/{period}"


_ENVELOPE = {
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_topic",
    "actor",
    "command_id",
}


class LedgerCreated(LedgerEvent, CanInitAggregate[str]):
    """The first event of an aggregate."""

    originator_topic: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if class_named(self.originator_topic, "ledger.aggregates.", BaseAggregate) is None:
            raise ValueError(f"originator_topic: {self.originator_topic!r} names no ledger aggregate")

    def index_marks(self) -> tuple[str, ...]:
        return (STREAM_MARK,)

    def mutate(self, aggregate: Any) -> Any:
        """A new aggregate whose state comes from this event alone: ledger aggregates set
        their state only in `when` (no `__init__` to call, unlike the library's default)."""
        if aggregate is not None:
            raise ValueError(f"{type(self).__name__} starts an aggregate; {aggregate.id} exists")
        cls = resolve_topic(self.originator_topic)
        created = cls.__new__(cls)
        created.__base_init__(self.originator_id, self.originator_version, self.timestamp)
        self.apply(created)
        return created


# --- the catalog: versions, price lists, calendar overrides ------------------------------


class CatalogOpened(LedgerCreated):
    valid_time_field = "timestamp"


class VersionReleased(LedgerEvent):
    """R-WTY-5, I-2: a product version officially released on a date."""

    valid_time_field = "released_on"
    product: str
    version: str
    released_on: date


class PriceListPublished(LedgerEvent):
    """R-STP-2, R-PTP-1, I-6: prices in force from 00:00 Moscow on `effective_from`."""

    valid_time_field = "effective_from"
    money_fields = ("norm_hour", "priority_month")
    effective_from: date
    norm_hour: Decimal
    priority_month: Decimal


class CalendarDayOverridden(LedgerEvent):
    """I-1: a day the support calendar treats otherwise than the holidays package says."""

    valid_time_field = "day"
    day: date
    kind: CalendarDayKind
    reason: str


# --- the client -------------------------------------------------------------------------


class ClientRegistered(LedgerCreated):
    """A client became known to the ledger.

    class_version 2 added `registered_at` (the valid time); a v1 payload is upcast by
    taking the moment the event was produced.
    """

    class_version = 2
    valid_time_field = "registered_at"
    name: str
    registered_at: Instant

    @classmethod
    def upcast_v1_v2(cls, state: dict[str, Any]) -> None:
        state["registered_at"] = state["timestamp"]

    def index_marks(self) -> tuple[str, ...]:
        return (STREAM_MARK, REGISTERED_MARK)


class LicenseIssued(LedgerEvent):
    valid_time_field = "issued_on"
    license_id: str
    product: str
    issued_on: date


class LicenseKeyHandedOver(LedgerEvent):
    """R-PTP-6 counts the free priority month from this instant."""

    valid_time_field = "at"
    license_id: str
    at: Instant


class ImplementationStarted(LedgerEvent):
    """R-PTP-2: priority support is mandatory while an implementation is in progress."""

    valid_time_field = "at"
    at: Instant


class ImplementationFinished(LedgerEvent):
    valid_time_field = "at"
    at: Instant


class PersonalConfigurationRegistered(LedgerEvent):
    """R-PTP-3: supporting a personal configuration needs priority support."""

    valid_time_field = "at"
    configuration_id: str
    at: Instant


class PilotStarted(LedgerEvent):
    """R-PTP-7: a pilot project under contract."""

    valid_time_field = "at"
    pilot_id: str
    at: Instant
    contract: str


class PilotEnded(LedgerEvent):
    valid_time_field = "at"
    pilot_id: str
    at: Instant


class EngineerAssigned(LedgerEvent):
    """R-PTP-5: the dedicated support engineer."""

    valid_time_field = "at"
    engineer: str
    at: Instant


# --- priority coverage (the Subscription aggregate) --------------------------------------


class PriorityAccountOpened(LedgerCreated):
    """The client's priority-support account, opened with the client."""

    valid_time_field = "opened_at"
    opened_at: Instant


class PrioritySubscribed(LedgerEvent):
    """R-PTP-1: a paid monthly priority subscription starts."""

    valid_time_field = "at"
    subscription_id: str
    at: Instant


class PriorityCancelled(LedgerEvent):
    valid_time_field = "at"
    subscription_id: str
    at: Instant


class PriorityFreeMonthGranted(LedgerEvent):
    """R-PTP-6, I-7: free priority from the first licence key handover, one calendar month —
    recorded once per client, at the handover that was the first one as known then. Coverage
    derives the month from the licences (`ledger.rules.coverage.first_license_key_handover`),
    so a licence learned later that turns out to be the first moves it without a new event."""

    valid_time_field = "starts_at"
    license_id: str
    starts_at: Instant
    ends_at: Instant


class PilotCoverageGranted(LedgerEvent):
    """R-PTP-7: free priority for the whole pilot."""

    valid_time_field = "starts_at"
    pilot_id: str
    starts_at: Instant


class PilotCoverageEnded(LedgerEvent):
    valid_time_field = "ends_at"
    pilot_id: str
    ends_at: Instant


# --- tickets ----------------------------------------------------------------------------


class TicketOpened(LedgerCreated):
    valid_time_field = "at"
    ticket_id: str
    at: Instant
    channel: Channel
    subject: str
    category: Category
    product: str
    version: str
    build: str | None = None
    description: str | None = None
    screenshot: str | None = None


class TicketClassified(LedgerEvent):
    """I-3: the engineer's (re)classification; the latest known applies to all the work."""

    valid_time_field = "at"
    category: Category
    at: Instant
    reason: str


class BugConfirmed(LedgerEvent):
    """R-WTY-2, R-WTY-4: the suspected bug is a product bug."""

    valid_time_field = "at"
    at: Instant


class BugRejected(LedgerEvent):
    """I-3, I-4: not a product bug; the ticket takes a new category."""

    valid_time_field = "at"
    at: Instant
    category: Category
    reason: str


class TimeLogged(LedgerEvent):
    """I-4: a piece of work on a ticket."""

    valid_time_field = "started_at"
    entry_id: str
    engineer: str
    started_at: Instant
    minutes: int
    activity: Activity
    purpose: Purpose | None = None

    @property
    def work_period(self) -> str:
        """The period (Moscow month) the work was done in."""
        return period_of(moscow_date(self.started_at))

    def index_marks(self) -> tuple[str, ...]:
        return (work_mark(self.work_period),)


class TimeCorrected(LedgerEvent):
    """A correction of a logged entry: a new fact about the same work (valid then)."""

    valid_time_field = "entry_started_at"
    entry_id: str
    minutes: int
    reason: str
    entry_started_at: Instant


class TimeVoided(LedgerEvent):
    valid_time_field = "entry_started_at"
    entry_id: str
    reason: str
    entry_started_at: Instant


class TicketResponded(LedgerEvent):
    valid_time_field = "at"
    at: Instant


class TicketResolved(LedgerEvent):
    valid_time_field = "at"
    at: Instant


class TicketReopened(LedgerEvent):
    valid_time_field = "at"
    at: Instant


# --- invoices ---------------------------------------------------------------------------


_Day = date  # (a line has a field named `date`)


class IssuedLine(msgspec.Struct, frozen=True):
    """What a line an invoice froze must hold (CONTRACT.md's invoice line, as
    `ledger.billing.bill.Line.document` writes it), checked as the invoice is made and read:
    a tampered line is a damaged record, not a failure of every query that shows the invoice.
    A field not named here is left as it was (lines of earlier versions)."""

    key: str
    kind: str
    description: str
    quantity: str
    unit_price: str
    amount: str
    ticket_id: str | None = None
    date: _Day | None = None
    minutes_worked: int | None = None
    minutes_billed: int | None = None
    pending: bool | None = None
    needs_decision: bool | None = None
    entry_ids: list[str] | None = None
    days_in_month: int | None = None
    adjusts_period: str | None = None
    adjusts_key: str | None = None
    computation: str = ""
    rules: list[str] = []
    events: list[str] = []

    def __post_init__(self) -> None:
        for name in ("quantity", "unit_price", "amount"):
            text = getattr(self, name)
            try:
                number = Decimal(text)
            except ArithmeticError:
                number = None
            if number is None or not is_amount(number):
                raise ValueError(f"{name}: {text!r} is not a decimal number")


class InvoiceIssued(LedgerCreated):
    """I-9: an invoice for a period, frozen from this moment: its lines and total exactly
    as computed from what the ledger knew at `known_at`."""

    valid_time_field = "at"
    money_fields = ("total",)
    period: str
    at: Instant
    known_at: Instant
    lines: tuple[dict[str, Any], ...]  # each an `IssuedLine`, kept as the JSON it was issued as
    total: Decimal

    def __post_init__(self) -> None:
        super().__post_init__()
        for number, line in enumerate(self.lines):
            try:
                msgspec.convert(line, IssuedLine)
            except msgspec.ValidationError as error:
                raise ValueError(f"lines[{number}]: {error}") from None


# --- command receipts (idempotency) -----------------------------------------------------


class CommandAccepted(LedgerCreated):
    """A command_id was applied; its content hash tells a re-send from a conflicting reuse."""

    valid_time_field = "timestamp"
    command: str
    content_sha256: str
