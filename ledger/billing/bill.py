"""A client's bill for a period, as known at record time K: one pure function (I-4 … I-9).

`bill(knowledge, period)` folds nothing and reads nothing: given what the ledger knew of a
client at K (`ClientKnowledge`: its aggregates, the catalog, and the recorded events behind
them) it returns typed lines and typed problems.

- `standard_time`: billable work of one ticket on one Moscow day (I-5), rounded by R-STP-3,
  at the norm hour in force that day (I-6). Work on a bug not yet settled is a zero-amount
  line marked `pending` (I-4). Work that lost the priority coverage it was logged under,
  which no tier allows as known now (R-PTP-3), is a zero-amount line marked
  `needs_decision`, and a problem.
- `priority_fee`: the days of the month charged by I-7, per price list in force.
- `priority_free`: zero-priced lines for free coverage (R-PTP-6, R-PTP-7).
- `adjustment`: what was learned after an earlier period was issued, landed on the client's
  earliest later period not yet issued (I-9).

Every line carries a stable `key`, the rules and the events behind it, and a `computation`
in words and numbers. Work or a fee on a day with no price list in force is not priced:
it is a problem (I-6), and an invoice with such a problem cannot be issued.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any, Literal

from eventsourcing.utils import get_topic

from ledger.aggregates import Catalog, Client, Invoice, Subscription, Ticket
from ledger.aggregates.base import LedgerAggregate, replay
from ledger.application import RecordedEvent
from ledger.errors import RuleViolationError
from ledger.events import (
    BugConfirmed,
    BugRejected,
    LicenseIssued,
    LicenseKeyHandedOver,
    PriceListPublished,
    PriorityFreeMonthGranted,
    TicketClassified,
    TicketOpened,
    TimeLogged,
    VersionReleased,
)
from ledger.rules.coverage import CoverageInterval, days_covered, fee_days, free_priority_month
from ledger.rules.prices import PriceList, price_list_in_force, prorated_amount, standard_amount
from ledger.rules.rounding import billed_minutes
from ledger.rules.warranty import covered_versions
from ledger.timeutil import in_moscow, moscow_date, parse_period, period_bounds, period_of, start_of_day

ZERO = Decimal("0.00")
TICKETS = Ticket.stream_for("")  # "ticket/": the prefix of every ticket's stream
FREE_GRANT_RULES = {"first_month": "R-PTP-6", "pilot": "R-PTP-7"}
FREE_GRANT_NAMES = {"first_month": "free first month after the licence key handover", "pilot": "pilot project"}
LICENSE_FACTS = (LicenseIssued, LicenseKeyHandedOver, PriorityFreeMonthGranted)  # decide R-PTP-6
# Events that change how all of a ticket's work is billed, whatever their own valid time.
TICKET_WIDE = (TicketOpened, TicketClassified, BugConfirmed, BugRejected)
TICKET_WIDE_TOPICS = frozenset(get_topic(cls) for cls in TICKET_WIDE)

LineKind = Literal["standard_time", "priority_fee", "priority_free", "adjustment"]
Fact = tuple[datetime, datetime, str]  # (record time, valid time, event topic)


def money(amount: Decimal) -> str:
    return f"{amount:.2f}"


# --- what the bill is computed from -----------------------------------------------------------


@dataclass
class ClientKnowledge:
    """One client as known at K: its aggregates, the catalog, and the events behind them."""

    known_at: datetime
    client: Client
    priority: Subscription
    catalog: Catalog
    tickets: dict[str, Ticket] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    events: list[RecordedEvent] = field(default_factory=list)
    catalog_events: list[RecordedEvent] = field(default_factory=list)

    def coverage(self) -> list[CoverageInterval]:
        """I-7: the client's priority coverage, the free month from its first licence key
        handover as known at K (R-PTP-6)."""
        return self.priority.coverage(self.client.first_key_handover)


def fold(recorded: Iterable[RecordedEvent]) -> dict[str, LedgerAggregate]:
    """Replay recorded events (in record order) into their aggregates, keyed by stream id."""
    return replay(item.event for item in recorded)


def knowledge_of(client_id: str, known_at: datetime, aggregates: dict[str, Any], events: list[RecordedEvent],
                 catalog: Catalog, catalog_events: list[RecordedEvent]) -> ClientKnowledge:
    """One client's knowledge from folded aggregates (others' aggregates are ignored)."""
    return ClientKnowledge(
        known_at=known_at,
        client=aggregates[Client.stream_for(client_id)],
        priority=aggregates[Subscription.stream_for(client_id)],
        catalog=catalog,
        tickets={a.ticket_id: a for a in aggregates.values() if isinstance(a, Ticket) and a.client_id == client_id},
        invoices={a.period: a for a in aggregates.values() if isinstance(a, Invoice) and a.client_id == client_id},
        events=events,
        catalog_events=catalog_events,
    )


# --- what the bill is made of -----------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One invoice line. Fields left None are not part of its kind; `document()` gives the
    CONTRACT.md JSON form, in this field order."""

    key: str
    kind: LineKind
    description: str
    quantity: Decimal  # hours (standard time), days (priority), 1 (adjustment)
    unit_price: Decimal
    amount: Decimal
    ticket_id: str | None = None
    date: date | None = None
    minutes_worked: int | None = None
    minutes_billed: int | None = None
    pending: bool | None = None
    needs_decision: bool | None = None
    entry_ids: tuple[str, ...] | None = None
    days_in_month: int | None = None
    adjusts_period: str | None = None
    adjusts_key: str | None = None
    computation: str = ""
    rules: tuple[str, ...] = ()
    events: tuple[str, ...] = ()  # event ids, in record order

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            if item.name in ("unit_price", "amount"):
                value = money(value)
            elif item.name == "quantity":
                value = str(value)
            elif item.name == "date":
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[item.name] = value
        return out

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Line:
        """A line as an issued invoice froze it (`document()`'s inverse)."""
        values = {item.name: document[item.name] for item in fields(cls) if item.name in document}
        for name in ("quantity", "unit_price", "amount"):
            values[name] = Decimal(values[name])
        if "date" in values:
            values["date"] = date.fromisoformat(values["date"])
        for name in ("entry_ids", "rules", "events"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


# --- line keys: what names a line across knowledge times (CONTRACT.md `key`) -------------------
# A key is formed here and read here: the documents rebuild what a line of an older invoice
# was about from its key alone (`LineKey.parse`).


def standard_time_key(ticket_id: str, day: date, *, pending: bool = False, needs_decision: bool = False) -> str:
    """`standard_time:<ticket>:<day>`, then `:pending` or `:needs_decision`."""
    return f"standard_time:{ticket_id}:{day.isoformat()}" + (":pending" if pending else "") \
        + (":needs_decision" if needs_decision else "")


def priority_fee_key(period: str, effective_from: date) -> str:
    """`priority_fee:<period>:<price list's first day>`."""
    return f"priority_fee:{period}:{effective_from.isoformat()}"


def priority_free_key(source: str, ref: str, period: str) -> str:
    """`priority_free:<source>:<ref>:<period>` (source: first_month or pilot)."""
    return f"priority_free:{source}:{ref}:{period}"


def adjustment_key(period: str, adjusted: str) -> str:
    """`adjustment:<issued period>:<the adjusted line's key>`."""
    return f"adjustment:{period}:{adjusted}"


@dataclass(frozen=True)
class LineKey:
    """What a line key says: its kind, and the parts its form holds (None where it has none)."""

    kind: str
    period: str | None = None  # priority_fee, priority_free, adjustment (the issued period)
    source: str | None = None  # priority_free
    ref: str | None = None  # priority_free: the licence or pilot
    ticket_id: str | None = None  # standard_time
    day: date | None = None  # standard_time
    pending: bool = False
    needs_decision: bool = False
    adjusted: str | None = None  # adjustment: the key of the line it adjusts

    @classmethod
    def parse(cls, key: str) -> LineKey:
        """The parts of a key formed by the functions above; a key of another form gives
        only its kind (the text before the first colon)."""
        kind, _, rest = key.partition(":")
        if kind == "standard_time":
            pending, needs_decision = rest.endswith(":pending"), rest.endswith(":needs_decision")
            ticket_id, _, day = rest.removesuffix(":pending").removesuffix(":needs_decision").rpartition(":")
            return cls(kind, ticket_id=ticket_id, day=date.fromisoformat(day), pending=pending,
                       needs_decision=needs_decision)
        if kind == "priority_fee":
            return cls(kind, period=rest.partition(":")[0])
        if kind == "priority_free":
            source, _, rest = rest.partition(":")
            ref, _, period = rest.rpartition(":")
            return cls(kind, period=period, source=source, ref=ref)
        if kind == "adjustment":
            period, _, adjusted = rest.partition(":")
            return cls(kind, period=period, adjusted=adjusted)
        return cls(kind)


@dataclass(frozen=True)
class Problem:
    """What someone must decide before the line can be billed as it should: work that no
    tier allows as known now (R-PTP-3), or a day with no price list in force (I-6)."""

    key: str
    period: str  # the period of the work: an adjustment's, or the invoice's own
    rules: tuple[str, ...]
    description: str
    ticket_id: str | None = None
    date: date | None = None
    minutes_worked: int | None = None
    entry_ids: tuple[str, ...] | None = None
    blocks_issue: bool = False  # nothing can be issued until it is solved (no price: I-6)

    def document(self) -> dict[str, Any]:
        return {"key": self.key, "period": self.period, "ticket_id": self.ticket_id,
                "date": None if self.date is None else self.date.isoformat(),
                "minutes_worked": self.minutes_worked,
                "entry_ids": None if self.entry_ids is None else list(self.entry_ids),
                "rules": list(self.rules), "description": self.description}


@dataclass
class Bill:
    """The lines of a period as known at K (its own, then adjustments to issued periods),
    its problems, and for every line key that could exist — emitted or not — the events
    that bear on it, so that a vanished line can be explained too."""

    lines: list[Line] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    bearing: dict[str, list[RecordedEvent]] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    def blocking(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.blocks_issue]

    def document(self) -> dict[str, Any]:
        """Lines, total and problems in the CONTRACT.md invoice document's JSON form."""
        return {"lines": [line.document() for line in self.lines], "total": money(self.total),
                "problems": [problem.document() for problem in self.problems]}


def bill(knowledge: ClientKnowledge, period: str) -> Bill:
    """The draft bill of `period` as known at K: its own lines, then the adjustments of the
    issued periods that land on it (I-9)."""
    parse_period(period)
    index = EventIndex(knowledge)
    computed = period_lines(knowledge, period, index)
    for earlier in periods_landing_on(period, knowledge.invoices):
        invoice = knowledge.invoices[earlier]
        if may_change(earlier, invoice.known_at, facts_of([*knowledge.events, *knowledge.catalog_events])):
            computed.lines += _adjustments_for(knowledge, earlier, invoice, index)
    computed.problems += decision_problems(computed.lines, period)
    return computed


def period_lines(knowledge: ClientKnowledge, period: str, index: EventIndex | None = None) -> Bill:
    """The period's own lines as known at K, whether or not it was issued (for disputes)."""
    index = index or EventIndex(knowledge)
    first, following = period_bounds(period)
    out = Bill()
    _standard_time(knowledge, period, first, following, index, out)
    _priority(knowledge, period, first, following, index, out)
    return out


def _decision_problem(line: Line, period: str) -> Problem:
    return Problem(key=line.key, period=line.adjusts_period or period, rules=line.rules,
                   description=line.description, ticket_id=line.ticket_id, date=line.date,
                   minutes_worked=line.minutes_worked, entry_ids=line.entry_ids)


# --- citing the events behind a line ----------------------------------------------------------


class EventIndex:
    """Where each fact of the aggregates' state came from, to cite events per line."""

    def __init__(self, knowledge: ClientKnowledge):
        self.by_stream: dict[str, list[RecordedEvent]] = defaultdict(list)
        self.by_entry: dict[tuple[str, str], list[RecordedEvent]] = defaultdict(list)
        self.by_priority_ref: dict[str, list[RecordedEvent]] = defaultdict(list)
        # The facts that decide the first licence key handover, hence the free month (R-PTP-6):
        # every licence issued, every key handed over, the grants recorded.
        self.license_events: list[RecordedEvent] = []
        self.price_lists: dict[date, RecordedEvent] = {}
        self.releases: dict[tuple[str, str], RecordedEvent] = {}
        for item in knowledge.events:
            self.by_stream[item.event.originator_id].append(item)
            entry_id = getattr(item.event, "entry_id", None)
            if entry_id is not None:
                self.by_entry[item.event.originator_id, entry_id].append(item)
            if isinstance(item.event, LICENSE_FACTS):
                self.license_events.append(item)
                continue
            ref = next((getattr(item.event, name) for name in ("subscription_id", "pilot_id")
                        if item.event.originator_id.startswith("priority/") and hasattr(item.event, name)), None)
            if ref is not None:
                self.by_priority_ref[ref].append(item)
        self.coverage_events = [e for ref_events in self.by_priority_ref.values() for e in ref_events]
        # Every month a handed-over key could start: where the choice of the first licence
        # can change coverage, so where its facts bear on a line.
        self.handed_over = sorted(
            license_id for license_id, licence in knowledge.client.licenses.items() if licence.key_handed_over_at)
        self.license_months = [free_priority_month(licence.key_handed_over_at)
                               for licence in knowledge.client.licenses.values() if licence.key_handed_over_at]
        for item in knowledge.catalog_events:  # record order: a later publication wins (I-6)
            if isinstance(item.event, PriceListPublished):
                self.price_lists[item.event.effective_from] = item
            elif isinstance(item.event, VersionReleased):
                self.releases[item.event.product, item.event.version] = item

    def coverage_bearing(self, start: datetime, end: datetime) -> list[RecordedEvent]:
        """The coverage facts that can bear on [start, end): paid subscriptions and pilots
        by their own intervals; the licence facts where some key's free month would touch it."""
        bearing = [e for e in self.coverage_events if _touches(e, start, end)]
        if any(month_start < end and month_end > start for month_start, month_end in self.license_months):
            bearing += self.license_events
        return bearing

    def releases_of(self, ticket: Ticket, day: date, releases: Any) -> list[RecordedEvent]:
        """The releases that decide the ticket's warranty window that day (R-WTY-5, I-2)."""
        product = ticket.facts["product"]
        versions = {ticket.facts["version"], *covered_versions(releases, product, start_of_day(day))}
        return [self.releases[product, v] for v in sorted(versions) if (product, v) in self.releases]


def _touches(item: RecordedEvent, start: datetime, end: datetime) -> bool:
    """Whether a coverage event's interval can bear on [start, end)."""
    event = item.event
    begins = getattr(event, "starts_at", None) or getattr(event, "at", None) or event.valid_at
    finishes = getattr(event, "ends_at", None)
    return begins < end and (finishes is None or finishes > start)


def _ids(events: Iterable[RecordedEvent]) -> tuple[str, ...]:
    ordered = sorted({e.notification_id: e for e in events}.values(), key=lambda e: e.notification_id)
    return tuple(e.event_id for e in ordered)


# --- standard time (R-STP-2, R-STP-3, I-4, I-5, I-6) ------------------------------------------


def _standard_time(knowledge: ClientKnowledge, period: str, first: date, following: date, index: EventIndex,
                   out: Bill) -> None:
    coverage = knowledge.coverage()
    releases = knowledge.catalog.release_list()
    for ticket in sorted(knowledge.tickets.values(), key=lambda t: t.ticket_id):
        days: dict[date, list[str]] = defaultdict(list)
        for entry_id, entry in ticket.entries.items():
            day = moscow_date(entry.started_at)
            if first <= day < following:
                days[day].append(entry_id)
        for day, entry_ids in sorted(days.items()):
            _ticket_day(knowledge, period, ticket, day, entry_ids, coverage, releases, index, out)


def _ticket_day(knowledge: ClientKnowledge, period: str, ticket: Ticket, day: date, entry_ids: list[str],
                coverage: list[CoverageInterval], releases: Any, index: EventIndex, out: Bill) -> None:
    """One ticket-day (I-5): its billable and its pending minutes, and the work that lost
    its coverage."""
    minutes = {"billable": 0, "pending": 0}
    uncovered: dict[str, RuleViolationError] = {}  # entry id -> why no tier allows it now
    for entry_id in entry_ids:
        entry = ticket.entries[entry_id]
        if entry.voided:
            continue
        try:
            tier = ticket.tier_of(entry, coverage, releases).tier  # I-4
        except RuleViolationError as refusal:  # it lost the coverage it was logged under (R-PTP-3)
            uncovered[entry_id] = refusal
            continue
        if tier in minutes:
            minutes[tier] += entry.minutes
    base = standard_time_key(ticket.ticket_id, day)
    # Only charged or pending work needs a price: warranty work is free (R-WTY-1).
    price = _price_on(knowledge, day, base, period, out, ticket_id=ticket.ticket_id,
                      minutes=sum(minutes.values())) if any(minutes.values()) else None
    day_start, day_end = start_of_day(day), start_of_day(day + timedelta(days=1))
    bearing = [
        *(e for e in index.by_stream[ticket.id] if isinstance(e.event, TICKET_WIDE)),
        *(e for entry_id in entry_ids for e in index.by_entry[ticket.id, entry_id]),
        *([index.price_lists[price.effective_from]] if price and price.effective_from in index.price_lists else []),
        *index.coverage_bearing(day_start, day_end),
        *index.releases_of(ticket, day, releases),
    ]
    for tier, worked in minutes.items():
        key = standard_time_key(ticket.ticket_id, day, pending=tier == "pending")
        out.bearing[key] = bearing
        if worked and price is not None:
            out.lines.append(_standard_line(key, ticket, day, tier, worked, price, bearing))
    key = standard_time_key(ticket.ticket_id, day, needs_decision=True)
    out.bearing[key] = bearing
    if uncovered:
        out.lines.append(_needs_decision(key, ticket, day, uncovered, bearing))


def _standard_line(key: str, ticket: Ticket, day: date, tier: str, worked: int, price: PriceList,
                   bearing: list[RecordedEvent]) -> Line:
    pending = tier == "pending"
    billed = billed_minutes(worked)  # R-STP-3 per ticket-day (I-5)
    priced = standard_amount(billed, price.norm_hour)
    computation = (
        f"{worked} min worked → {billed} min billed (R-STP-3, I-5) × {money(price.norm_hour)} per hour "
        f"(price list effective {price.effective_from.isoformat()}, I-6) = {money(priced)}"
    )
    if pending:
        computation += "; not charged while the suspected bug is neither confirmed nor rejected (I-4)"
    return Line(
        key=key, kind="standard_time",
        description=f"Standard support, ticket {ticket.ticket_id} ({ticket.subject}) on {day.isoformat()}"
                    + (" — pending bug verdict" if pending else ""),
        quantity=(Decimal(billed) / 60).quantize(ZERO), unit_price=price.norm_hour, amount=ZERO if pending else priced,
        ticket_id=ticket.ticket_id, date=day, minutes_worked=worked, minutes_billed=billed, pending=pending,
        computation=computation, rules=("R-STP-2", "R-STP-3", "I-4", "I-5", "I-6", "I-7"), events=_ids(bearing),
    )


def _needs_decision(key: str, ticket: Ticket, day: date, uncovered: dict[str, RuleViolationError],
                    bearing: list[RecordedEvent]) -> Line:
    """Work of one ticket-day that no tier allows as known now — logged under priority
    coverage that a later fact took away (a back-dated cancellation, a free month that
    moved). I-4 would refuse it today (R-PTP-3); it was accepted then, so it is neither
    dropped nor charged: a zero line that someone must decide on (README, decisions)."""
    entries = [ticket.entries[entry_id] for entry_id in uncovered]
    worked = sum(entry.minutes for entry in entries)
    activities = ", ".join(sorted({entry.activity for entry in entries}))
    rules = sorted({refusal.rule for refusal in uncovered.values() if refusal.rule})
    reasons = "; ".join(sorted({refusal.message for refusal in uncovered.values()}))
    return Line(
        key=key, kind="standard_time",
        description=f"Work on ticket {ticket.ticket_id} ({ticket.subject}) on {day.isoformat()} without "
                    f"the priority coverage it needs — not charged, needs a decision ({', '.join(rules)})",
        quantity=ZERO, unit_price=ZERO, amount=ZERO, ticket_id=ticket.ticket_id, date=day,
        minutes_worked=worked, minutes_billed=0, pending=False, needs_decision=True,
        entry_ids=tuple(sorted(uncovered)),
        computation=f"{worked} min of {activities} work (entries {', '.join(sorted(uncovered))}): {reasons} "
                    f"({', '.join(rules)}). The coverage it was logged under no longer holds as known now, "
                    "and no other tier allows it (I-4), so it is not charged (0.00) and needs a decision: "
                    "restore the coverage, bill it by agreement, or write it off",
        rules=(*rules, "I-4"), events=_ids(bearing),
    )


def _price_on(knowledge: ClientKnowledge, day: date, key: str, period: str, out: Bill, *,
              ticket_id: str, minutes: int) -> PriceList | None:
    """I-6: the price list in force on `day`; when there is none, the work cannot be priced:
    no line, and a problem that blocks the issue."""
    try:
        return price_list_in_force(knowledge.catalog.price_lists, day)
    except RuleViolationError as refusal:
        out.problems.append(Problem(key=key, period=period, rules=(refusal.rule or "I-6",), description=str(refusal),
                                    ticket_id=ticket_id, date=day, minutes_worked=minutes, blocks_issue=True))
        return None


def _prices_on(knowledge: ClientKnowledge, days: list[date], period: str, out: Bill) -> dict[date, PriceList]:
    """I-6: the price list in force on each charged day of priority support; days with none
    are not priced: one problem that blocks the issue."""
    prices, unpriced = {}, []
    for day in days:
        try:
            prices[day] = price_list_in_force(knowledge.catalog.price_lists, day)
        except RuleViolationError:
            unpriced.append(day)
    if unpriced:
        out.problems.append(Problem(
            key=f"priority_fee:{period}", period=period, rules=("I-6", "I-7"), blocks_issue=True,
            description=f"no price list is in force on {unpriced[0].isoformat()} … {unpriced[-1].isoformat()}: "
                        f"{len(unpriced)} charged days of priority support are not priced; publish one "
                        f"effective on or before {unpriced[0].isoformat()}"))
    return prices


# --- priority support (R-PTP-1, R-PTP-6, R-PTP-7, I-6, I-7) -----------------------------------


def _priority(knowledge: ClientKnowledge, period: str, first: date, following: date, index: EventIndex,
              out: Bill) -> None:
    coverage = knowledge.coverage()
    days_in_month = (following - first).days
    charged = fee_days(coverage, first, following)  # I-7
    bearing_grants = index.coverage_bearing(start_of_day(first), start_of_day(following))
    prices = _prices_on(knowledge, charged, period, out)
    charged = [day for day in charged if day in prices]
    # Every price list in force on some day of the period decides how the days split (I-6).
    in_force = sorted({price.effective_from for price in prices.values()})
    bearing = [*bearing_grants, *(index.price_lists[effective] for effective in in_force
                                  if effective in index.price_lists)]
    for price, days in groupby(charged, key=prices.__getitem__):
        days = list(days)
        amount = prorated_amount(len(days), days_in_month, price.priority_month)
        key = priority_fee_key(period, price.effective_from)
        out.bearing[key] = bearing
        out.lines.append(Line(
            key=key, kind="priority_fee",
            description=f"Priority support, {len(days)} of {days_in_month} days of {period} "
                        f"({days[0].isoformat()} … {days[-1].isoformat()})",
            quantity=Decimal(len(days)), unit_price=price.priority_month, amount=amount, days_in_month=days_in_month,
            computation=f"{money(price.priority_month)} per month (price list effective "
                        f"{price.effective_from.isoformat()}, I-6) × {len(days)}/{days_in_month} "
                        f"charged days (I-7) = {money(amount)}",
            rules=("R-PTP-1", "I-6", "I-7"), events=_ids(bearing),
        ))
    for license_id in index.handed_over:  # a free month that moved to another licence is explained too
        out.bearing[priority_free_key("first_month", license_id, period)] = index.license_events
    for interval in coverage:
        if interval.source in FREE_GRANT_RULES:
            _free_line(interval, period, first, following, index, out)


def _free_line(interval: CoverageInterval, period: str, first: date, following: date, index: EventIndex,
               out: Bill) -> None:
    days = days_covered(interval, first, following)
    key = priority_free_key(interval.source, interval.ref, period)
    first_month = interval.source == "first_month"
    bearing = index.license_events if first_month else index.by_priority_ref.get(interval.ref, [])
    out.bearing[key] = bearing
    if not days:
        return
    rule = FREE_GRANT_RULES[interval.source]
    grounds = (f"licence {interval.ref} is the first licence (the earliest issued) and its key was handed "
               f"over {in_moscow(interval.starts_at).isoformat()}: free until "
               f"{in_moscow(interval.ends_at).isoformat()} (R-PTP-6, I-7); " if first_month else "")
    out.lines.append(Line(
        key=key, kind="priority_free",
        description=f"Priority support free of charge: {FREE_GRANT_NAMES[interval.source]} "
                    f"{interval.ref}, {len(days)} days of {period}",
        quantity=Decimal(len(days)), unit_price=ZERO, amount=ZERO,
        computation=f"{grounds}{len(days)} days covered by {interval.ref} ({rule}) × 0.00 = 0.00",
        rules=(rule, "I-7"), events=_ids(bearing),
    ))


# --- issued periods and what is learned after (I-9) -------------------------------------------


def earliest_unissued_after(period: str, issued: set[str]) -> str:
    """I-9: the earliest period after `period` not yet issued: where its late changes land."""
    year, month = parse_period(period)
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        candidate = period_of(date(year, month, 1))
        if candidate not in issued:
            return candidate


def periods_landing_on(period: str, issued: Iterable[str]) -> list[str]:
    """I-9: the issued periods whose late changes land on `period` — those for which it is
    the earliest later period not yet issued."""
    issued = set(issued)
    return [q for q in sorted(issued) if q < period and earliest_unissued_after(q, issued) == period]


def end_of_period(period: str) -> datetime:
    """00:00 Moscow time on the first day after the period."""
    return start_of_day(period_bounds(period)[1])


def bears_on_period(end: datetime, valid: datetime, topic: str) -> bool:
    """Whether a fact (valid time, event topic) can change the lines of a period ending at
    `end` (I-9): it is valid before the period ends, or it reclassifies a ticket (which
    changes all of that ticket's work)."""
    return valid < end or topic in TICKET_WIDE_TOPICS


def may_change(period: str, since: datetime, facts: Iterable[Fact]) -> bool:
    """Whether any fact recorded after `since` can change the period's lines (`bears_on_period`)."""
    end = end_of_period(period)
    return any(recorded > since and bears_on_period(end, valid, topic) for recorded, valid, topic in facts)


def facts_of(events: Iterable[RecordedEvent]) -> Iterator[Fact]:
    return ((e.recorded_at, e.event.valid_at, get_topic(type(e.event))) for e in events)


def _bearing_on_period(knowledge: ClientKnowledge, period: str) -> list[RecordedEvent]:
    """What may bear on a line of `period` that no longer exists (I-9): the facts valid before
    the period ends, or reclassifying a ticket, of the client's own aggregates, the catalog,
    and the tickets with work logged in the period (no other ticket makes a line in it)."""
    end = end_of_period(period)
    worked = {e.event.originator_id for e in knowledge.events
              if isinstance(e.event, TimeLogged) and e.event.work_period == period}
    return [e for e in [*knowledge.events, *knowledge.catalog_events]
            if (not e.event.originator_id.startswith(TICKETS) or e.event.originator_id in worked)
            and bears_on_period(end, e.event.valid_at, get_topic(type(e.event)))]


def _adjustments_for(knowledge: ClientKnowledge, earlier: str, invoice: Invoice, index: EventIndex) -> list[Line]:
    """I-9: for each line of the issued `earlier` period, what it is now minus what was issued
    and what earlier adjustments already added."""
    now = period_lines(knowledge, earlier, index)
    current = {line.key: line for line in now.lines}
    issued = [Line.from_document(line) for line in invoice.lines]
    billed = {line.key: line for line in issued if line.kind != "adjustment"}
    adjusted: dict[str, Decimal] = defaultdict(Decimal)
    flagged = {key for key, line in billed.items() if line.needs_decision}
    for later in knowledge.invoices.values():
        for line in map(Line.from_document, later.lines):
            if line.kind == "adjustment" and line.adjusts_period == earlier and line.adjusts_key:
                adjusted[line.adjusts_key] += line.amount
                if line.needs_decision:
                    flagged.add(line.adjusts_key)
    lines = []
    for key in sorted(set(current) | set(billed) | set(adjusted)):
        now_amount = current[key].amount if key in current else ZERO
        was = billed[key].amount if key in billed else ZERO
        delta = now_amount - was - adjusted[key]
        # Work that lost its coverage after the issue is 0.00 either way, yet must be seen
        # once on a later invoice: a 0.00 adjustment needing a decision (R-PTP-3).
        needs_decision = key in current and bool(current[key].needs_decision) and key not in flagged
        if not delta and not needs_decision:
            continue
        reference = current.get(key) or billed.get(key)  # None: only adjusted before
        bearing = now.bearing.get(key) or _bearing_on_period(knowledge, earlier)
        causes = [e for e in bearing if e.recorded_at > invoice.known_at]
        computation = (f"now {money(now_amount)} − issued {money(was)} − adjusted before "
                       f"{money(adjusted[key])} = {money(delta)} (I-9)")
        decision: dict[str, Any] = {}
        if needs_decision and reference is not None:
            decision = {"ticket_id": reference.ticket_id, "date": reference.date,
                        "minutes_worked": reference.minutes_worked, "entry_ids": reference.entry_ids,
                        "needs_decision": True}
            computation = f"{computation}; {reference.computation}"
        lines.append(Line(
            key=adjustment_key(earlier, key), kind="adjustment",
            description=f"Adjustment to the issued invoice for {earlier}: "
                        f"{reference.description if reference else key}",
            quantity=Decimal(1), unit_price=delta, amount=delta, adjusts_period=earlier, adjusts_key=key,
            computation=computation, rules=("I-9", *(reference.rules if reference else ())), events=_ids(causes),
            **decision,
        ))
    return lines


def decision_problems(lines: Iterable[Line], period: str) -> list[Problem]:
    """The lines that need a decision (R-PTP-3), each as a problem: what to decide on."""
    return [_decision_problem(line, period) for line in lines if line.needs_decision]
