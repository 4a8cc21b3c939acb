"""The bill as one pure function (issue 17): `ledger.billing.bill.bill` computed from
aggregates held in memory — no store, no clock — gives typed lines and typed problems.
Golden figures are computed by hand here, citing the rules; the same bill through the store
and the CLI is tested in test_invoice_golden.py and test_invoice_time_axes.py."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime
from decimal import Decimal

import pytest

from commands.memory import InMemoryAggregates
from ledger.billing.bill import (
    ClientKnowledge,
    Line,
    LineKey,
    adjustment_key,
    bill,
    priority_fee_key,
    priority_free_key,
    standard_time_key,
)
from ledger.errors import LedgerError
from ledger.timeutil import MOSCOW
from tests.builders import SET_UP, issue, log, price_list

KNOWN_AT = datetime(2025, 5, 1, tzinfo=MOSCOW)


def knowledge_of(unit: InMemoryAggregates) -> ClientKnowledge:
    return ClientKnowledge(known_at=KNOWN_AT, client=unit.client("acme"), priority=unit.subscription("acme"),
                           catalog=unit.catalog(), tickets={"T1": unit.ticket("T1")})


def unit_with(*commands: dict) -> InMemoryAggregates:
    unit = InMemoryAggregates()
    for command in [*SET_UP, *commands]:
        unit.run(command)
    return unit


def test_a_ticket_day_is_rounded_once_and_priced_by_the_price_list_in_force():
    """I-5: 50 + 20 = 70 min of integration work (billable: the warranty column does not
    allow it, I-4) on one ticket-day → R-STP-3: 120 min billed (not 60 + 30 = 90) ×
    1500.00 per hour (price list of 2025-01-01, I-6) = 3000.00."""
    unit = unit_with(log("T1", "E1", "2025-03-03T12:00", 50, "integration"),
                     log("T1", "E2", "2025-03-03T15:00", 20, "integration"))
    result = bill(knowledge_of(unit), "2025-03")
    [line] = result.lines
    assert isinstance(line, Line) and line.kind == "standard_time" and line.date == date(2025, 3, 3)
    assert (line.minutes_worked, line.minutes_billed) == (70, 120)
    assert (line.quantity, line.unit_price, line.amount) == (Decimal("2.00"), Decimal("1500.00"), Decimal("3000.00"))
    assert result.total == Decimal("3000.00") and result.problems == []
    assert line.document()["amount"] == "3000.00" and line.document()["quantity"] == "2.00"
    assert Line.from_document(line.document()) == line


def test_warranty_work_makes_no_line():
    """I-4 step 3: a consultation on a question about the current version (9.0, I-2) is free
    under warranty: no standard-time line, nothing owed."""
    unit = unit_with(log("T1", "E1", "2025-03-03T12:00", 45, "consultation"))
    assert bill(knowledge_of(unit), "2025-03").lines == []


def test_the_free_first_month_is_a_zero_line():
    """R-PTP-6, I-7: the key of L1 was handed over 2025-01-15 10:00, free until 2025-02-15
    10:00: in February that touches the days 1 … 15 — 15 days at 0.00."""
    result = bill(knowledge_of(unit_with()), "2025-02")
    [line] = result.lines
    assert (line.kind, line.key) == ("priority_free", "priority_free:first_month:L1:2025-02")
    assert (line.quantity, line.amount) == (Decimal(15), Decimal("0.00"))


def test_work_on_a_day_with_no_price_list_is_a_problem_not_a_line():
    """I-6: with a price list effective 2025-03-10, 40 min of integration work on 2025-03-12
    → 60 min billed (R-STP-3) × 2000.00 = 2000.00. With no price list in force that day the
    work is not priced: no line, and a problem that blocks the issue."""
    unit = unit_with(
        price_list("2025-03-10", norm_hour="2000.00", priority_month="30000.00"),
        log("T1", "E1", "2025-03-12T12:00", 40, "integration"),
    )
    result = bill(knowledge_of(unit), "2025-03")
    assert [line.amount for line in result.lines] == [Decimal("2000.00")]
    assert result.problems == [] and result.blocking() == []
    knowledge = knowledge_of(unit)
    knowledge.catalog.price_lists.clear()  # as if no price list had been published
    result = bill(knowledge, "2025-03")
    assert result.lines == []
    [problem] = result.problems
    assert problem.blocks_issue and problem.rules == ("I-6",) and problem.date == date(2025, 3, 12)
    assert problem.minutes_worked == 40 and "no price list is in force on 2025-03-12" in problem.description


def test_the_bill_needs_no_store():
    """IssueInvoice freezes a bill computed from the record, so the in-memory unit refuses
    it and says why; the bill itself needs none (above)."""
    unit = unit_with()
    with pytest.raises(LedgerError, match="reads the record"):
        unit.run(issue("2025-02", "2025-03-01T10:00"))


def test_an_invoice_with_unpriced_work_shows_the_problem_and_cannot_be_issued(ledger):
    """I-6: the only price list takes effect 2025-03-10, so work of 2025-03-03 has none in
    force. The draft names the problem (and has no line for it); issuing is refused, citing
    I-6, and records nothing."""
    from projections.invoice import invoice
    from tests.support import apply, event_count

    apply(ledger, SET_UP[0], price_list("2025-03-10", norm_hour="1500.00", priority_month="30000.00"), *SET_UP[2:],
          log("T1", "E1", "2025-03-03T12:00", 40, "integration"))
    document = invoice(ledger, "acme", "2025-03", ledger.last_recorded_at())
    assert document["lines"] == [] and document["total"] == "0.00"
    [problem] = document["problems"]
    assert (problem["key"], problem["rules"], problem["date"]) == ("standard_time:T1:2025-03-03", ["I-6"], "2025-03-03")
    events = event_count(ledger)
    [outcome] = apply(ledger, issue("2025-03", "2025-04-01T10:00"))
    assert outcome.status == "rejected" and "I-6" in outcome.error and "2025-03-03" in outcome.error
    assert event_count(ledger) == events


# --- line keys: formed and read in one place ------------------------------------------------------


@pytest.mark.parametrize(("key", "parts"), [
    (standard_time_key("T-1", date(2025, 3, 5)),
     LineKey("standard_time", ticket_id="T-1", day=date(2025, 3, 5))),
    (standard_time_key("T:odd:1", date(2025, 3, 5), pending=True),  # a colon in a ticket id
     LineKey("standard_time", ticket_id="T:odd:1", day=date(2025, 3, 5), pending=True)),
    (standard_time_key("T-1", date(2025, 3, 5), needs_decision=True),
     LineKey("standard_time", ticket_id="T-1", day=date(2025, 3, 5), needs_decision=True)),
    (priority_fee_key("2025-03", date(2025, 1, 1)), LineKey("priority_fee", period="2025-03")),
    (priority_free_key("pilot", "P:1", "2025-03"), LineKey("priority_free", period="2025-03", source="pilot", ref="P:1")),
    (adjustment_key("2025-02", priority_fee_key("2025-02", date(2025, 1, 1))),
     LineKey("adjustment", period="2025-02", adjusted="priority_fee:2025-02:2025-01-01")),
    ("something_else:1:2", LineKey("something_else")),
], ids=lambda value: value if isinstance(value, str) else "")
def test_a_line_key_reads_back_as_it_was_formed(key, parts):
    assert LineKey.parse(key) == parts


def test_the_keys_of_a_bill_read_back_as_their_lines_say():
    """Every key a bill forms, read back, agrees with the line that carries it."""
    knowledge = knowledge_of(unit_with(log("T1", "E1", "2025-03-03T12:00", 50, "integration")))
    lines = [line for period in ("2025-02", "2025-03") for line in bill(knowledge, period).lines]
    assert {line.kind for line in lines} == {"standard_time", "priority_free"}
    for line in lines:
        parts = LineKey.parse(line.key)
        assert parts.kind == line.kind
        if line.kind == "standard_time":
            assert (parts.ticket_id, parts.day, parts.pending, parts.needs_decision) == \
                (line.ticket_id, line.date, bool(line.pending), bool(line.needs_decision))
        if line.kind == "priority_free":
            assert (parts.source, parts.ref, parts.period) == ("first_month", "L1", "2025-02")


def test_an_issued_line_is_checked_for_every_field_a_line_has():
    """`ledger.events.IssuedLine` (what an issued invoice's line must hold, checked as the
    event is read) names every field of `Line` — the write side cannot import the bill."""
    import msgspec

    from ledger.events import IssuedLine

    assert [item.name for item in fields(Line)] == [item.name for item in msgspec.structs.fields(IssuedLine)]
    line = bill(knowledge_of(unit_with(log("T1", "E1", "2025-03-03T12:00", 50, "integration"))), "2025-03").lines[0]
    assert msgspec.convert(line.document(), IssuedLine).amount == line.document()["amount"]
