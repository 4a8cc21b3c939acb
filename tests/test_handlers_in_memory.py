"""Handlers tested with an in-memory unit of work, without a database (issue 17): what a
command records, and that a refused one records nothing. The rules behind each expectation
are cited; the same commands through the bus and a store are tested elsewhere."""

from __future__ import annotations

import pytest

from commands.memory import InMemoryAggregates
from ledger.errors import LedgerError
from tests.builders import SET_UP, hand_over_key, issue, issue_license, log, register

LOG = log("T1", "E1", "2025-03-03T12:00", 30, "consultation")


@pytest.fixture
def unit() -> InMemoryAggregates:
    unit = InMemoryAggregates()
    for command in SET_UP:
        unit.run(command)
    return unit


def names(events: list) -> list[str]:
    return [type(e).__name__ for e in events]


def test_registering_a_client_opens_its_priority_account():
    unit = InMemoryAggregates()
    events = unit.run(register("acme", "2025-01-10T09:00"))
    assert names(events) == ["ClientRegistered", "PriorityAccountOpened"]
    assert unit.client("acme").name == "Acme"


def test_the_first_key_handover_grants_the_free_month_once(unit):
    """R-PTP-6: the free month is granted at the first licence key handover, once."""
    assert unit.subscription("acme").free_month is not None
    unit.run(issue_license("L2", "2025-02-01", product="Ledger"))
    events = unit.run(hand_over_key("L2", "2025-02-02T10:00"))
    assert names(events) == ["LicenseKeyHandedOver"]


def test_logged_time_is_recorded_on_the_ticket(unit):
    events = unit.run(LOG)
    assert names(events) == ["TimeLogged"]
    assert unit.ticket("T1").entries["E1"].minutes == 30


def test_a_refused_command_changes_nothing(unit):
    """R-PTP-3: personal-configuration work needs priority coverage; on 2025-04-03 the free
    month (from the handover on 2025-01-15) has ended and nothing else covers the client."""
    ticket_version = unit.ticket("T1").version
    with pytest.raises(LedgerError, match="R-PTP-3"):
        unit.run(log("T1", "E2", "2025-04-03T12:00", 30, "personal_config"))
    assert unit.ticket("T1").version == ticket_version and "E2" not in unit.ticket("T1").entries
    unit.run(LOG)
    with pytest.raises(LedgerError, match="already logged"):
        unit.run({**LOG, "minutes": 45})
    assert unit.ticket("T1").entries["E1"].minutes == 30


def test_a_command_that_reads_the_record_says_it_needs_a_store(unit):
    with pytest.raises(LedgerError, match="SupportLedger"):
        unit.run(issue("2025-03", "2025-04-01T10:00"))
