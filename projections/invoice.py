"""A client's invoice for a period, as known at record time K (I-4 … I-9).

The lines are a pure function of what the ledger knew at K (`ClientKnowledge`):

- `standard_time`: billable work of one ticket on one Moscow day (I-5), rounded by R-STP-3,
  at the norm hour in force that day (I-6). Work on a bug not yet settled is shown as a
  zero-amount `standard_time` line marked `pending` (I-4). Work that lost the priority
  coverage it was logged under, which no tier allows as known now (R-PTP-3), is a
  zero-amount `standard_time` line marked `needs_decision`, listed again in the document's
  `problems`.
- `priority_fee`: the days of the month charged by I-7, per price list in force.
- `priority_free`: zero-priced lines for free coverage (R-PTP-6, R-PTP-7).
- `adjustment`: what was learned after an earlier period was issued, landed on the client's
  earliest later period not yet issued (I-9).

Every line carries a stable `key`, the rules and the events behind it, and a `computation`
in words and numbers. Once issued, an invoice is read back exactly as issued.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any

from eventsourcing.utils import get_topic

from ledger.aggregates import Ticket
from ledger.application import RecordedEvent, SupportLedger
from ledger.errors import RuleViolationError
from ledger.events import (
    LicenseIssued,
    LicenseKeyHandedOver,
    PriceListPublished,
    PriorityFreeMonthGranted,
    TimeLogged,
    VersionReleased,
    field_or_none,
    has_field,
)
from ledger.rules.coverage import days_covered, fee_days, free_priority_month
from ledger.rules.prices import price_list_in_force, prorated_amount, standard_amount
from ledger.rules.rounding import billed_minutes
from ledger.rules.warranty import covered_versions
from ledger.timeutil import in_moscow, moscow_date, parse_period, period_bounds, start_of_day
from projections.knowledge import ClientKnowledge, catalog_known_at
from projections.period_knowledge import (
    TICKET_WIDE,
    bears_on_period,
    end_of_period,
    facts_of,
    knowledge_for_period,
    may_change,
    periods_landing_on,
)

TICKETS = Ticket.stream_for("")  # "ticket/": the prefix of every ticket's stream
FREE_GRANT_RULES = {"first_month": "R-PTP-6", "pilot": "R-PTP-7"}
LICENSE_FACTS = (LicenseIssued, LicenseKeyHandedOver, PriorityFreeMonthGranted)  # decide R-PTP-6
FREE_GRANT_NAMES = {"first_month": "free first month after the licence key handover", "pilot": "pilot project"}


def money(amount: Decimal) -> str:
    return f"{amount:.2f}"


@dataclass
class Computed:
    """Lines of one period (adjustments aside), and for every line key that could exist —
    emitted or not — the events that bear on it, so a vanished line can be explained."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    bearing: dict[str, list[RecordedEvent]] = field(default_factory=dict)


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
            entry_id = field_or_none(item.event, "entry_id")
            if entry_id is not None:
                self.by_entry[item.event.originator_id, entry_id].append(item)
            if isinstance(item.event, LICENSE_FACTS):
                self.license_events.append(item)
                continue
            ref = next((field_or_none(item.event, name) for name in ("subscription_id", "pilot_id")
                        if item.event.originator_id.startswith("priority/") and has_field(item.event, name)), None)
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
        bearing = [e for e in self.coverage_events if _touches_day(e, start, end)]
        if any(month_start < end and month_end > start for month_start, month_end in self.license_months):
            bearing += self.license_events
        return bearing


# --- the lines of one period ----------------------------------------------------------------


def compute_period(knowledge: ClientKnowledge, period: str, index: EventIndex) -> Computed:
    first, following = period_bounds(period)
    computed = Computed()
    _standard_time(knowledge, first, following, index, computed)
    _priority(knowledge, period, first, following, index, computed)
    return computed


def _standard_time(
    knowledge: ClientKnowledge, first: date, following: date, index: EventIndex, out: Computed
) -> None:
    coverage = knowledge.coverage()
    releases = knowledge.catalog.release_list()
    for ticket in sorted(knowledge.tickets.values(), key=lambda t: t.ticket_id):
        days: dict[date, list[str]] = defaultdict(list)
        for entry_id, entry in ticket.entries.items():
            day = moscow_date(entry.started_at)
            if first <= day < following:
                days[day].append(entry_id)
        for day, entry_ids in sorted(days.items()):
            _ticket_day(knowledge, ticket, day, entry_ids, coverage, releases, index, out)


def _ticket_day(knowledge, ticket: Ticket, day: date, entry_ids: list[str], coverage, releases,
                index: EventIndex, out: Computed) -> None:
    minutes = {"billable": 0, "pending": 0}
    uncovered: dict[str, RuleViolationError] = {}  # entry id -> why no tier allows it now
    for entry_id in entry_ids:
        entry = ticket.entries[entry_id]
        if entry.voided:
            continue
        try:
            tier = ticket.tier_of(entry, coverage, releases).tier
        except RuleViolationError as refusal:  # it lost the coverage it was logged under (R-PTP-3)
            uncovered[entry_id] = refusal
            continue
        if tier in minutes:
            minutes[tier] += entry.minutes
    # Only charged or pending work needs a price: warranty work is free (R-WTY-1).
    price = price_list_in_force(knowledge.catalog.price_lists, day) if any(minutes.values()) else None
    day_start, day_end = start_of_day(day), start_of_day(day + timedelta(days=1))
    bearing = [
        *(e for e in index.by_stream[ticket.id] if isinstance(e.event, TICKET_WIDE)),
        *(e for entry_id in entry_ids for e in index.by_entry[ticket.id, entry_id]),
        *(_cite(index.price_lists.get(price.effective_from)) if price else []),
        *index.coverage_bearing(day_start, day_end),
        *_release_events(ticket, day, releases, index),
    ]
    for tier, worked in minutes.items():
        key = f"standard_time:{ticket.ticket_id}:{day.isoformat()}" + (":pending" if tier == "pending" else "")
        out.bearing[key] = bearing
        if not worked or price is None:
            continue
        billed = billed_minutes(worked)  # R-STP-3 per ticket-day (I-5)
        amount = standard_amount(billed, price.norm_hour) if tier == "billable" else Decimal("0.00")
        computation = (
            f"{worked} min worked → {billed} min billed (R-STP-3, I-5) × {money(price.norm_hour)} per hour "
            f"(price list effective {price.effective_from.isoformat()}, I-6) = {money(standard_amount(billed, price.norm_hour))}"
        )
        if tier == "pending":
            computation += "; not charged while the suspected bug is neither confirmed nor rejected (I-4)"
        out.lines.append({
            "key": key,
            "kind": "standard_time",
            "description": f"Standard support, ticket {ticket.ticket_id} ({ticket.subject}) on {day.isoformat()}"
                           + (" — pending bug verdict" if tier == "pending" else ""),
            "quantity": money(Decimal(billed) / 60),
            "unit_price": money(price.norm_hour),
            "amount": money(amount),
            "ticket_id": ticket.ticket_id,
            "date": day.isoformat(),
            "minutes_worked": worked,
            "minutes_billed": billed,
            "pending": tier == "pending",
            "computation": computation,
            "rules": ["R-STP-2", "R-STP-3", "I-4", "I-5", "I-6", "I-7"],
            "events": _ids(bearing),
        })
    key = f"standard_time:{ticket.ticket_id}:{day.isoformat()}:needs_decision"
    out.bearing[key] = bearing
    if uncovered:
        out.lines.append(_needs_decision(key, ticket, day, uncovered, bearing))


def _needs_decision(key: str, ticket: Ticket, day: date, uncovered: dict[str, RuleViolationError],
                    bearing: list[RecordedEvent]) -> dict[str, Any]:
    """Work of one ticket-day that no tier allows as known now — logged under priority
    coverage that a later fact took away (a back-dated cancellation, a free month that
    moved). I-4 would refuse it today (R-PTP-3); it was accepted then, so it is neither
    dropped nor charged: a zero line that someone must decide on (README, decisions)."""
    entries = [ticket.entries[entry_id] for entry_id in uncovered]
    worked = sum(entry.minutes for entry in entries)
    activities = ", ".join(sorted({entry.activity for entry in entries}))
    rules = sorted({refusal.rule for refusal in uncovered.values() if refusal.rule})
    reasons = "; ".join(sorted({refusal.message for refusal in uncovered.values()}))
    return {
        "key": key,
        "kind": "standard_time",
        "description": f"Work on ticket {ticket.ticket_id} ({ticket.subject}) on {day.isoformat()} without "
                       f"the priority coverage it needs — not charged, needs a decision ({', '.join(rules)})",
        "quantity": "0.00",
        "unit_price": "0.00",
        "amount": "0.00",
        "ticket_id": ticket.ticket_id,
        "date": day.isoformat(),
        "minutes_worked": worked,
        "minutes_billed": 0,
        "pending": False,
        "needs_decision": True,
        "entry_ids": sorted(uncovered),
        "computation": f"{worked} min of {activities} work (entries {', '.join(sorted(uncovered))}): {reasons} "
                       f"({', '.join(rules)}). The coverage it was logged under no longer holds as known now, "
                       "and no other tier allows it (I-4), so it is not charged (0.00) and needs a decision: "
                       "restore the coverage, bill it by agreement, or write it off",
        "rules": [*rules, "I-4"],
        "events": _ids(bearing),
    }


def _priority(knowledge: ClientKnowledge, period: str, first: date, following: date,
              index: EventIndex, out: Computed) -> None:
    coverage = knowledge.coverage()
    days_in_month = (following - first).days
    charged = fee_days(coverage, first, following)  # I-7
    period_start, period_end = start_of_day(first), start_of_day(following)
    bearing_grants = index.coverage_bearing(period_start, period_end)
    prices = {day: price_list_in_force(knowledge.catalog.price_lists, day) for day in charged}
    # Every price list in force on some day of the period decides how the days split (I-6).
    in_force = sorted({price.effective_from for price in prices.values()})
    bearing_prices = [index.price_lists[effective] for effective in in_force if effective in index.price_lists]
    for price, days in groupby(charged, key=prices.__getitem__):
        days = list(days)
        amount = prorated_amount(len(days), days_in_month, price.priority_month)
        bearing = [*bearing_grants, *bearing_prices]
        key = f"priority_fee:{period}:{price.effective_from.isoformat()}"
        out.bearing[key] = bearing
        out.lines.append({
            "key": key,
            "kind": "priority_fee",
            "description": f"Priority support, {len(days)} of {days_in_month} days of {period} "
                           f"({days[0].isoformat()} … {days[-1].isoformat()})",
            "quantity": str(len(days)),
            "unit_price": money(price.priority_month),
            "amount": money(amount),
            "days_in_month": days_in_month,
            "computation": f"{money(price.priority_month)} per month (price list effective "
                           f"{price.effective_from.isoformat()}, I-6) × {len(days)}/{days_in_month} "
                           f"charged days (I-7) = {money(amount)}",
            "rules": ["R-PTP-1", "I-6", "I-7"],
            "events": _ids(bearing),
        })
    for license_id in index.handed_over:  # a free month that moved to another licence is explained too
        out.bearing[f"priority_free:first_month:{license_id}:{period}"] = index.license_events
    for interval in coverage:
        if interval.source not in FREE_GRANT_RULES:
            continue
        days = days_covered(interval, first, following)
        key = f"priority_free:{interval.source}:{interval.ref}:{period}"
        first_month = interval.source == "first_month"
        bearing = index.license_events if first_month else index.by_priority_ref.get(interval.ref, [])
        out.bearing[key] = bearing
        if not days:
            continue
        rule = FREE_GRANT_RULES[interval.source]
        grounds = (f"licence {interval.ref} is the first licence (the earliest issued) and its key was handed "
                   f"over {in_moscow(interval.starts_at).isoformat()}: free until "
                   f"{in_moscow(interval.ends_at).isoformat()} (R-PTP-6, I-7); " if first_month else "")
        out.lines.append({
            "key": key,
            "kind": "priority_free",
            "description": f"Priority support free of charge: {FREE_GRANT_NAMES[interval.source]} "
                           f"{interval.ref}, {len(days)} days of {period}",
            "quantity": str(len(days)),
            "unit_price": "0.00",
            "amount": "0.00",
            "computation": f"{grounds}{len(days)} days covered by {interval.ref} ({rule}) × 0.00 = 0.00",
            "rules": [rule, "I-7"],
            "events": _ids(bearing),
        })


def _touches_day(item: RecordedEvent, start: datetime, end: datetime) -> bool:
    """Whether a coverage event's interval can bear on [start, end)."""
    event = item.event
    begins = getattr(event, "starts_at", None) or getattr(event, "at", None) or event.valid_at
    finishes = getattr(event, "ends_at", None)
    return begins < end and (finishes is None or finishes > start)


def _release_events(ticket: Ticket, day: date, releases, index: EventIndex) -> list[RecordedEvent]:
    """The releases that decide the ticket's warranty window that day (R-WTY-5, I-2)."""
    product = ticket.facts["product"]
    versions = {ticket.facts["version"], *covered_versions(releases, product, start_of_day(day))}
    return [index.releases[product, v] for v in sorted(versions) if (product, v) in index.releases]


def _cite(item: RecordedEvent | None) -> list[RecordedEvent]:
    return [] if item is None else [item]


def _ids(events: Iterable[RecordedEvent]) -> list[str]:
    ordered = sorted({e.notification_id: e for e in events}.values(), key=lambda e: e.notification_id)
    return [e.event_id for e in ordered]


# --- adjustments for issued periods (I-9) ----------------------------------------------------


def adjustment_lines(knowledge: ClientKnowledge, period: str, index: EventIndex) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for earlier in periods_landing_on(period, knowledge.invoices):
        invoice = knowledge.invoices[earlier]
        facts = facts_of([*knowledge.events, *knowledge.catalog_events])
        if may_change(earlier, invoice.known_at, facts):
            lines += _adjustments_for(knowledge, earlier, invoice, index)
    return lines


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


def _adjustments_for(knowledge: ClientKnowledge, earlier: str, invoice, index: EventIndex) -> list[dict[str, Any]]:
    now = compute_period(knowledge, earlier, index)
    current = {line["key"]: line for line in now.lines}
    billed = {line["key"]: line for line in invoice.lines if line["kind"] != "adjustment"}
    adjusted: dict[str, Decimal] = defaultdict(Decimal)
    flagged = {key for key, line in billed.items() if line.get("needs_decision")}
    for later in knowledge.invoices.values():
        for line in later.lines:
            if line["kind"] == "adjustment" and line.get("adjusts_period") == earlier:
                adjusted[line["adjusts_key"]] += Decimal(line["amount"])
                if line.get("needs_decision"):
                    flagged.add(line["adjusts_key"])
    lines = []
    for key in sorted(set(current) | set(billed) | set(adjusted)):
        now_amount = Decimal(current[key]["amount"]) if key in current else Decimal("0.00")
        was = Decimal(billed[key]["amount"]) if key in billed else Decimal("0.00")
        delta = now_amount - was - adjusted[key]
        # Work that lost its coverage after the issue is 0.00 either way, yet must be seen
        # once on a later invoice: a 0.00 adjustment needing a decision (R-PTP-3).
        needs_decision = bool(current.get(key, {}).get("needs_decision")) and key not in flagged
        if not delta and not needs_decision:
            continue
        reference = current.get(key) or billed.get(key)  # None: only adjusted before
        bearing = now.bearing.get(key) or _bearing_on_period(knowledge, earlier)
        causes = [e for e in bearing if e.recorded_at > invoice.known_at]
        description = reference["description"] if reference else key
        computation = (f"now {money(now_amount)} − issued {money(was)} − adjusted before "
                       f"{money(adjusted[key])} = {money(delta)} (I-9)")
        line = {
            "key": f"adjustment:{earlier}:{key}",
            "kind": "adjustment",
            "description": f"Adjustment to the issued invoice for {earlier}: {description}",
            "quantity": "1",
            "unit_price": money(delta),
            "amount": money(delta),
            "adjusts_period": earlier,
            "adjusts_key": key,
            "computation": computation,
            "rules": ["I-9", *(reference["rules"] if reference else [])],
            "events": _ids(causes),
        }
        if needs_decision:
            line.update({name: reference[name] for name in DECISION_FIELDS}, needs_decision=True,
                        computation=f"{computation}; {reference['computation']}")
        lines.append(line)
    return lines


DECISION_FIELDS = ("ticket_id", "date", "minutes_worked", "entry_ids")


def problems_of(lines: Iterable[dict[str, Any]], period: str) -> list[dict[str, Any]]:
    """The document's lines that need a decision (R-PTP-3), each with what to decide on;
    `period` is the period of the work (an adjustment's, or the invoice's own)."""
    return [
        {"key": line["key"], "period": line.get("adjusts_period", period),
         **{name: line.get(name) for name in DECISION_FIELDS},
         "rules": line["rules"], "description": line["description"]}
        for line in lines if line.get("needs_decision")
    ]


# --- the invoice document --------------------------------------------------------------------


def invoice_of(knowledge: ClientKnowledge, period: str) -> dict[str, Any]:
    """The CONTRACT.md invoice document for one period as known at `knowledge.known_at`."""
    parse_period(period)
    header = {"client_id": knowledge.client.client_id, "period": period,
              "known_at": in_moscow(knowledge.known_at).isoformat()}
    issued = knowledge.invoices.get(period)
    if issued is not None:
        return {**header, "status": "issued", "issued_at": in_moscow(issued.issued_at).isoformat(),
                "computed_as_known_at": in_moscow(issued.known_at).isoformat(),
                "lines": issued.lines, "total": money(issued.total),
                "problems": problems_of(issued.lines, period)}
    index = EventIndex(knowledge)
    lines = compute_period(knowledge, period, index).lines + adjustment_lines(knowledge, period, index)
    total = sum((Decimal(line["amount"]) for line in lines), Decimal("0.00"))
    return {**header, "status": "draft", "lines": lines, "total": money(total),
            "problems": problems_of(lines, period)}


def period_as_known(knowledge: ClientKnowledge, period: str) -> Computed:
    """The period's own lines as known at K, whether or not it was issued (for disputes)."""
    return compute_period(knowledge, period, EventIndex(knowledge))


def invoice(ledger: SupportLedger, client_id: str, period: str, known_at: datetime) -> dict[str, Any]:
    """One client's invoice document, reading only what the period needs (as month-end does)."""
    parse_period(period)
    known_at = in_moscow(known_at)
    with ledger.reading():
        catalog, catalog_events = catalog_known_at(ledger, known_at)
        [knowledge] = knowledge_for_period(ledger, [client_id], period, known_at, catalog, catalog_events)
    return invoice_of(knowledge, period)
